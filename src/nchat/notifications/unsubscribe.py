"""Unsubscribe tokens: what the link in a notification email carries to turn those emails
off without signing in (RFC 8058 one-click, or a click in the footer).

A JWT signed with the server's secret whose `typ` claim names its purpose: the access-token
check demands `typ: access` and this one `typ: unsubscribe`, so neither is taken for the
other. It has no expiry: a link in an email read weeks later must still work, and all it can
do is turn email notifications off for the person it was sent to, which they can turn back
on. Rotating NCHAT_SECRET_KEY voids every one. `iat` records when it was issued, so a later
rule (say, refusing tokens older than a preference change) needs no new format."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import jwt

from nchat.config import Settings
from nchat.notifications.links import base_url

ALGORITHM = "HS256"
PURPOSE = "unsubscribe"
# Ours are ~200 characters; anything far longer is not worth verifying.
MAX_TOKEN_LENGTH = 1024


def make_token(settings: Settings, user_id: str) -> str:
    payload = {"sub": user_id, "typ": PURPOSE, "iat": int(time.time())}
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> str | None:
    """The user id in a valid unsubscribe token; None for anything else (malformed,
    tampered, signed with another key, or a token made for another purpose)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "typ", "iat"]},
        )
    except (jwt.PyJWTError, ValueError):
        return None
    user_id = payload.get("sub")
    if payload.get("typ") != PURPOSE or not isinstance(user_id, str) or not user_id:
        return None
    return user_id


def unsubscribe_url(settings: Settings, user_id: str) -> str:
    query = urlencode({"token": make_token(settings, user_id)})
    return f"{base_url(settings)}/api/notifications/unsubscribe?{query}"
