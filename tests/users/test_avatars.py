"""Avatars: a picture uploaded for oneself becomes a 256x256 WebP of its centred square,
served without a token at a URL that changes with each picture; bad, huge or oversized
uploads are refused in the one envelope; the replaced or removed picture is queued for
removal from the store; everyone hears user.updated; GraphQL shows the same URL. On the
local store, and once on a real S3 server."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.app import create_app
from nchat.files import check
from nchat.files.avatars import MAX_BYTES, SIDE_PX
from nchat.storage import Storage
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.s3 import s3_settings
from tests.graphql.test_graphql import gql
from tests.sync.test_changes import changes, collect

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def picture(width: int, height: int, kind: str = "PNG", colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, kind)
    return out.getvalue()


def bands(width: int) -> bytes:
    """A PNG three times as wide as high: red, green and blue thirds."""
    image = Image.new("RGB", (3 * width, width), "red")
    image.paste((0, 255, 0), (width, 0, 2 * width, width))
    image.paste((0, 0, 255), (2 * width, 0, 3 * width, width))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a canvas of that size and holds no pixels (a decompression bomb
    is refused before any would be read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


async def put_avatar(
    client: httpx.AsyncClient, user: MadeUser, data: bytes, content_type: str = "image/png"
) -> httpx.Response:
    return await client.put(
        "/api/users/me/avatar",
        headers=user.headers,
        files={"file": ("me.png", data, content_type)},
    )


async def uploaded(client: httpx.AsyncClient, user: MadeUser, data: bytes) -> dict[str, Any]:
    r = await put_avatar(client, user, data)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def version_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def queued(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(sa.text("SELECT key FROM nchat_file_deletions"))).scalars())


async def stored(app: FastAPI, key: str) -> bool:
    store: Storage = app.state.storage
    return await store.stat(key) is not None


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_an_uploaded_png_is_served_as_a_square_without_a_token(
    client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI
) -> None:
    ada = await make_user()
    bob = await make_user()
    me = await uploaded(client, ada, bands(100))
    url = me["avatar_url"]
    assert re.fullmatch(rf"/api/users/{ada.id}/avatar/{UUID}", url), url
    assert await stored(app, f"{version_of(url)}.avatar")

    served = await client.get(url)  # no Authorization: as a browser loads <img src>
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["etag"] == f'"{version_of(url)}"'
    image = decoded(served.content)
    assert (image.format, image.size) == ("WEBP", (SIDE_PX, SIDE_PX))
    # The centred square of red | green | blue is the green third, edge to edge.
    for x, y in ((4, 4), (128, 128), (251, 251)):
        r, g, b = image.convert("RGB").getpixel((x, y))  # type: ignore[misc]
        assert g > 200 and r < 60 and b < 60, (x, y, (r, g, b))

    again = await client.get(url, headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304
    seen = (await client.get(f"/api/users/{ada.id}", headers=bob.headers)).json()
    assert seen["avatar_url"] == url
    assert (await client.get("/api/users/me", headers=ada.headers)).json()["avatar_url"] == url


async def test_a_jpeg_is_taken_and_its_metadata_left_behind(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "blue").save(out, "JPEG", exif=exif)
    # Declared as something else: the bytes say what it is.
    me = (await put_avatar(client, ada, out.getvalue(), "application/octet-stream")).json()
    served = await client.get(me["avatar_url"])
    image = decoded(served.content)
    assert image.size == (SIDE_PX, SIDE_PX)
    assert not image.getexif()
    assert b"Camera Maker" not in served.content


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"just some text, not a picture", 415, "unsupported_image_type"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            415,
            "unsupported_image_type",
        ),
        (b"%PDF-1.4\n" + b"x" * 100, 415, "unsupported_image_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 422, "invalid_image"),
        (png_header(8000, 8000), 422, "image_too_large"),  # 64 million pixels, over 50
        (png_header(30000, 30000), 422, "image_too_large"),  # past Pillow's own bomb limit
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_BYTES, 413, "file_too_large"),
    ],
    ids=["text", "svg", "pdf", "corrupt-png", "too-many-pixels", "bomb", "over-5-mb"],
)
async def test_what_is_not_a_small_picture_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    app: FastAPI,
    data: bytes,
    status: int,
    code: str,
) -> None:
    ada = await make_user()
    before = await uploaded(client, ada, picture(50, 50))
    keys = [s.key async for s in app.state.storage.objects()]
    r = await put_avatar(client, ada, data)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if status == 413:
        assert error["details"]["max_bytes"] == MAX_BYTES
    after = (await client.get("/api/users/me", headers=ada.headers)).json()
    assert after["avatar_url"] == before["avatar_url"]
    assert [s.key async for s in app.state.storage.objects()] == keys


async def test_a_body_far_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    r = await put_avatar(client, ada, b"\x00" * (MAX_BYTES + 100_000))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"raw bytes", "image/png"),
        (b"--x\r\nContent-Disposition: form-data; name=other\r\n\r\nhi\r\n--x--\r\n", None),
    ],
    ids=["not-multipart", "no-file-part"],
)
async def test_a_malformed_upload_is_422(
    client: httpx.AsyncClient, make_user: UserFactory, body: bytes, content_type: str | None
) -> None:
    ada = await make_user()
    headers = {**ada.headers, "content-type": content_type or "multipart/form-data; boundary=x"}
    r = await client.put("/api/users/me/avatar", headers=headers, content=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_upload"


async def test_a_new_picture_is_a_new_url_and_the_old_one_goes(
    client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI, engine: AsyncEngine
) -> None:
    ada = await make_user()
    first = (await uploaded(client, ada, picture(80, 80, colour="red")))["avatar_url"]
    second = (await uploaded(client, ada, picture(80, 80, colour="red")))["avatar_url"]
    assert first != second  # the same picture again is still a new URL: caches keep each
    assert (await client.get(first)).status_code == 404
    assert (await client.get(second)).status_code == 200
    assert f"{version_of(first)}.avatar" in await queued(engine)
    assert f"{version_of(second)}.avatar" not in await queued(engine)
    assert await stored(app, f"{version_of(second)}.avatar")


async def test_removing_goes_back_to_none(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    ada = await make_user()
    url = (await uploaded(client, ada, picture(40, 40)))["avatar_url"]
    r = await client.delete("/api/users/me/avatar", headers=ada.headers)
    assert r.status_code == 200, r.text
    assert r.json()["avatar_url"] is None
    assert (await client.get(url)).status_code == 404
    assert f"{version_of(url)}.avatar" in await queued(engine)
    # Again: nothing to remove, still none.
    again = await client.delete("/api/users/me/avatar", headers=ada.headers)
    assert (again.status_code, again.json()["avatar_url"]) == (200, None)


async def test_an_external_url_still_works_and_releases_the_upload(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    ada = await make_user()
    url = (await uploaded(client, ada, picture(40, 40)))["avatar_url"]
    r = await client.put(
        f"/api/users/{ada.id}",
        headers=ada.headers,
        json={"avatar_url": "https://images.example.com/ada.png"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["avatar_url"] == "https://images.example.com/ada.png"
    assert f"{version_of(url)}.avatar" in await queued(engine)
    # A server path cannot be set by hand: only an upload makes one.
    forged = await client.put(f"/api/users/{ada.id}", headers=ada.headers, json={"avatar_url": url})
    assert forged.status_code == 422


async def test_nobody_else_changes_or_borrows_my_avatar(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    bob = await make_user()
    mine = (await uploaded(client, ada, picture(40, 40)))["avatar_url"]
    theirs = (await uploaded(client, bob, picture(40, 40, colour="blue")))["avatar_url"]
    assert theirs.startswith(f"/api/users/{bob.id}/")
    r = await client.put(
        f"/api/users/{ada.id}",
        headers=bob.headers,
        json={"avatar_url": "https://evil.example.com/x.png"},
    )
    assert r.status_code == 403
    assert (await client.get("/api/users/me", headers=ada.headers)).json()["avatar_url"] == mine
    # Ada's picture is not served under Bob's id, nor with a made-up version.
    assert (await client.get(f"/api/users/{bob.id}/avatar/{version_of(mine)}")).status_code == 404
    made_up = f"/api/users/{ada.id}/avatar/00000000-0000-4000-8000-000000000000"
    for url in (made_up, f"/api/users/{ada.id}/avatar/not-a-version"):
        r = await client.get(url)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "avatar_not_found"
    # Without a token, nothing changes.
    anonymous = await client.put(
        "/api/users/me/avatar", files={"file": ("a.png", picture(10, 10), "image/png")}
    )
    assert anonymous.status_code == 401
    assert (await client.delete("/api/users/me/avatar")).status_code == 401


async def test_everyone_hears_the_change(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    ada = await make_user()
    bob = await make_user()
    start = (await changes(client, bob))["cursor"]
    url = (await uploaded(client, ada, picture(40, 40)))["avatar_url"]
    await client.delete("/api/users/me/avatar", headers=ada.headers)
    events = (await collect(client, bob, start, 2, kind="user.updated"))["events"]
    said = [(e["data"]["id"], e["data"]["avatar_url"]) for e in events]
    assert said == [(str(ada.id), url), (str(ada.id), None)]
    assert all(e["data"]["email"] is None and e["channel_id"] is None for e in events)


async def test_graphql_shows_the_avatar(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    ada = await make_user()
    url = (await uploaded(client, ada, picture(40, 40)))["avatar_url"]
    body = await gql(client, ada, "{ me { avatarUrl } }")
    assert body == {"data": {"me": {"avatarUrl": url}}}


async def test_the_storage_check_counts_avatars_as_named(
    client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI, engine: AsyncEngine
) -> None:
    ada = await make_user()
    url = (await uploaded(client, ada, picture(40, 40)))["avatar_url"]
    key = f"{version_of(url)}.avatar"
    report = await check.check(engine, app.state.storage, hashes=False, progress=lambda _: None)
    assert key not in report.orphans
    assert key not in report.missing
    await app.state.storage.delete(key)
    report = await check.check(engine, app.state.storage, hashes=False, progress=lambda _: None)
    assert key in report.missing
    # Lost from the store: a 404, not a 500.
    assert (await client.get(url)).status_code == 404


async def test_avatars_on_an_s3_store(
    s3_server: str, database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    """Served through the server, not by a redirect to the bucket: the web client's page
    loads images of its own origin only."""
    app = create_app(make_settings(database_url, tmp_path, **s3_settings(s3_server)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ada = await make_user()
            first = (await uploaded(client, ada, bands(60)))["avatar_url"]
            served = await client.get(first)
            assert served.status_code == 200, served.text
            assert decoded(served.content).size == (SIDE_PX, SIDE_PX)
            second = (await uploaded(client, ada, picture(30, 30)))["avatar_url"]
            assert (await client.get(first)).status_code == 404
            assert (await client.get(second)).status_code == 200
            for url in (first, second):
                await app.state.storage.delete(f"{version_of(url)}.avatar")
