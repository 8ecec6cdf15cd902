"""Access tokens (short-lived JWT) and refresh tokens (opaque, rotated, stored hashed)."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID


def issue_access_token(
    *, secret: str, user_id: uuid.UUID, session_id: uuid.UUID, ttl_s: int
) -> str:
    now = int(time.time())
    payload = {
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessClaims | None:
    """The claims of a valid, unexpired access token. The session behind it is checked by
    the caller (revocation is not in the token)."""
    try:
        claims, expires_at = _verify(token, secret)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    return claims if expires_at > time.time() else None


# Every request verifies its token, and a client sends the same one for minutes on end:
# decoding it and checking its signature again was 7% of a send's CPU. A valid token's
# claims never change (expiry is checked on every use, above); failures raise, and
# lru_cache keeps no exceptions, so a rejected token is looked at afresh each time.
@functools.lru_cache(maxsize=8192)
def _verify(token: str, secret: str) -> tuple[AccessClaims, float]:
    payload = jwt.decode(
        token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "sid"]}
    )
    if payload.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"])), float(payload["exp"])


def new_refresh_token(session_id: uuid.UUID) -> str:
    # The session id travels in the token so a rotated (reused) token still names its session.
    return f"{session_id}.{secrets.token_urlsafe(32)}"


def refresh_session_id(token: str) -> uuid.UUID | None:
    head, _, rest = token.partition(".")
    if not rest:
        return None
    try:
        return uuid.UUID(head)
    except ValueError:
        return None


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return secrets.compare_digest(a, b)
