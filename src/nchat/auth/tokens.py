"""Access tokens (short-lived JWT) and refresh tokens (opaque, rotated, stored hashed)."""

from __future__ import annotations

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
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "sid"]}
        )
        if payload.get("typ") != "access":
            return None
        return AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"]))
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


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
