"""Access tokens (short-lived JWT) and refresh tokens (opaque, rotated, stored hashed)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
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
    expires_at: float  # seconds since the epoch: a socket opened with the token ends then


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
        claims = _verify(token, secret)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    return claims if claims.expires_at > time.time() else None


# Every request verifies its token, and a client sends the same one for minutes on end:
# decoding it and checking its signature again was 7% of a send's CPU. A valid token's
# claims never change (expiry is checked on every use, above); failures raise, and
# lru_cache keeps no exceptions, so a rejected token is looked at afresh each time.
@functools.lru_cache(maxsize=8192)
def _verify(token: str, secret: str) -> AccessClaims:
    payload = jwt.decode(
        token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "sid"]}
    )
    if payload.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return AccessClaims(uuid.UUID(payload["sub"]), uuid.UUID(payload["sid"]), float(payload["exp"]))


# A session starts at generation 0 (the column's default) and each rotation adds one.
FIRST_GENERATION = 0
_REFRESH_KEY_LABEL = b"nchat refresh token mac v1"


@dataclass(frozen=True)
class RefreshClaims:
    session_id: uuid.UUID
    # None for the first format, `<session id>.<random>`: nothing in such a token shows that
    # nchat issued it, so it can be honoured when current but never taken as proof of reuse.
    generation: int | None


def new_refresh_token(session_id: uuid.UUID, generation: int, *, secret: str) -> str:
    """`<session id>.<generation>.<random>.<mac>`: the session and generation travel in the
    token so that a rotated one, coming back, names what it was issued for; the MAC shows
    that it was issued at all."""
    body = f"{session_id}.{generation}.{secrets.token_urlsafe(32)}"
    return f"{body}.{_refresh_mac(body, secret)}"


def parse_refresh_token(token: str, *, secret: str) -> RefreshClaims | None:
    """What a refresh token claims, if it has a valid MAC (or is of the first format).
    Whether it is the session's current token is for the caller to check."""
    parts = token.split(".")
    if len(parts) == 2:
        session_id = _uuid(parts[0])
        return RefreshClaims(session_id, None) if session_id and parts[1] else None
    if len(parts) != 4:
        return None
    body = token.rpartition(".")[0]
    if not hmac.compare_digest(parts[3].encode(), _refresh_mac(body, secret).encode()):
        return None
    session_id, generation = _uuid(parts[0]), parts[1]
    # A valid MAC means nchat wrote it; still parsed strictly, as the key outlives formats.
    if session_id is None or not (generation.isascii() and generation.isdigit()):
        return None
    return RefreshClaims(session_id, int(generation))


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _refresh_mac(body: str, secret: str) -> str:
    digest = hmac.new(_refresh_key(secret), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@functools.lru_cache(maxsize=4)
def _refresh_key(secret: str) -> bytes:
    # A key of its own, derived from the JWT secret: a MAC made for one purpose can never
    # be passed off as the other's (an access token's signature as a refresh token's).
    return hmac.new(secret.encode(), _REFRESH_KEY_LABEL, hashlib.sha256).digest()


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return secrets.compare_digest(a, b)
