"""The server's VAPID key pair (RFC 8292): browsers subscribe with its public key, and each
Web Push request carries a JWT signed with the private one."""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

from nchat.config import Settings

KEY_FILE = "vapid_private_key.pem"
# A push service accepts a JWT for up to 24 hours; one is reused for an hour per audience.
TOKEN_LIFETIME_S = 12 * 3600
REUSE_S = 3600


def load(settings: Settings) -> Vapid02:
    """NCHAT_VAPID_PRIVATE_KEY, else the key generated once in the data dir (like the secret
    key: every node of a cluster must be given the same one)."""
    if settings.vapid_private_key:
        return Vapid02.from_pem(settings.vapid_private_key.encode())
    return Vapid02.from_pem(_load_or_create(settings.data_dir / KEY_FILE))


def _load_or_create(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Vapid02()
    key.generate_keys()
    # As the secret key: written whole to a private file, linked into place, the winner read.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_pem())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def public_key(key: Vapid02) -> str:
    raw = key.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Signer:
    """Authorization headers per push service, each JWT reused for an hour."""

    def __init__(self, key: Vapid02, subject: str) -> None:
        self._key = key
        self._subject = subject
        self._made: dict[str, tuple[float, str]] = {}

    def authorization(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._made.get(audience)
        if cached is not None and now - cached[0] < REUSE_S:
            return cached[1]
        claims = {"aud": audience, "exp": int(now + TOKEN_LIFETIME_S), "sub": self._subject}
        header: str = self._key.sign(claims)["Authorization"]
        if len(self._made) > 1000:  # endpoints' origins are few; never let it grow unbounded
            self._made.clear()
        self._made[audience] = (now, header)
        return header
