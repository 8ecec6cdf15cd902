"""Avatars: a picture a user uploads for themselves, kept as one small square.

The upload is read whole (it is small), its type taken from its bytes, decoded under the
image pixel limit like thumbnails, cropped to its centred square and written to the store
as a new WebP without the original's metadata. The user's `avatar_url` then names it
(users/service.py `do_set_avatar`), and the picture it replaces is queued for removal in
the same transaction. Served without a token from a URL nobody can guess (decision:
avatars are public URLs), so browsers load it as a plain <img> and keep it forever."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import RowMapping

from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.errors import NchatError, ValidationFailed
from nchat.files import images, sniff
from nchat.files.service import (
    MULTIPART_SLACK,
    FileTooLarge,
    Transaction,
    discard,
    in_render_slot,
    read_part,
    write_bytes,
)
from nchat.storage import Storage, StorageUnavailable
from nchat.users import service as users

MAX_BYTES = 5 * 1024 * 1024
SIDE_PX = 256
CONTENT_TYPE = "image/webp"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class UnsupportedImage(NchatError):
    status_code = 415
    code = "unsupported_image_type"
    message = "An avatar must be a PNG, JPEG, GIF or WebP image"


async def do_upload(
    transaction: Transaction,
    principal: Principal,
    body: AsyncIterator[bytes],
    *,
    content_type: str,
    declared_length: int | None,
    storage: Storage,
    max_pixels: int,
) -> RowMapping:
    """Make the upload the caller's avatar; the user row as it is now. No connection is
    held while the bytes arrive or the picture is made."""
    rbac.check_permission(principal.role, "user:update_self")
    if declared_length is not None and declared_length > MAX_BYTES + MULTIPART_SLACK:
        raise FileTooLarge(MAX_BYTES)
    data = await read_part(body, content_type=content_type, limit=MAX_BYTES)
    kind = sniff.content_type(data[: sniff.HEAD_BYTES])
    if kind not in images.IMAGE_TYPES:
        raise UnsupportedImage(
            details={"content_type": kind, "accepted": sorted(images.IMAGE_TYPES)}
        )
    square = functools.partial(images.square, max_pixels=max_pixels, side=SIDE_PX)
    picture = await in_render_slot(square, data)
    if picture is None:
        raise ValidationFailed("The image cannot be decoded", code="invalid_image")
    # Random, not a hash of the picture: the URL must not be guessable from the image.
    version = uuid.uuid4()
    key = users.avatar_key(version)
    await write_bytes(storage, key, picture)
    try:
        async with transaction() as conn:
            return await users.do_set_avatar(conn, principal, version)
    except BaseException:
        await discard(storage, [key])
        raise


async def read(storage: Storage, key: str) -> bytes:
    """The stored picture (a few kilobytes); 404 when the store lost it."""
    try:
        return b"".join([chunk async for chunk in storage.read(key)])
    except FileNotFoundError:
        raise users.avatar_not_found() from None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in _MISSING:
            raise users.avatar_not_found() from None
        raise StorageUnavailable(details={"backend": storage.name}) from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(details={"backend": storage.name}) from exc
