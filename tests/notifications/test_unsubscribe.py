"""Unsubscribe tokens: they name the person they were made for, and nothing else passes for
one (a tampered or foreign token, an access token), nor does one pass for an access token."""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from nchat.auth.tokens import decode_access_token, issue_access_token
from nchat.config import Settings
from nchat.notifications.unsubscribe import make_token, read_token, unsubscribe_url

SECRET = "test-secret-key-that-is-long-enough-for-hs256"
OTHER_SECRET = "another-secret-key-that-is-long-enough-for-hs256"
USER = "0197a000-0000-7000-8000-0000000000aa"
SETTINGS = Settings(secret_key=SECRET, public_url="https://chat.example.org")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip_with_the_issue_time() -> None:
    token = make_token(SETTINGS, USER)
    assert read_token(SETTINGS, token) == USER
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["typ"] == "unsubscribe"
    assert abs(claims["iat"] - time.time()) < 60
    # Links in old emails keep working.
    assert "exp" not in claims


def test_the_url_carries_a_token_for_the_person() -> None:
    url = urlsplit(unsubscribe_url(SETTINGS, USER))
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "chat.example.org",
        "/api/notifications/unsubscribe",
    )
    [token] = parse_qs(url.query)["token"]
    assert read_token(SETTINGS, token) == USER


def test_a_tampered_token_is_refused() -> None:
    header, _, signature = make_token(SETTINGS, USER).split(".")
    other = {"sub": str(uuid.uuid4()), "typ": "unsubscribe", "iat": int(time.time())}
    assert read_token(SETTINGS, f"{header}.{_b64(other)}.{signature}") is None


def test_a_token_signed_with_another_secret_is_refused() -> None:
    foreign = make_token(Settings(secret_key=OTHER_SECRET), USER)
    assert read_token(SETTINGS, foreign) is None


def test_an_unsigned_token_is_refused() -> None:
    header = _b64({"alg": "none", "typ": "JWT"})
    body = _b64({"sub": USER, "typ": "unsubscribe", "iat": int(time.time())})
    assert read_token(SETTINGS, f"{header}.{body}.") is None


def test_an_access_token_is_not_an_unsubscribe_token() -> None:
    access = issue_access_token(
        secret=SECRET, user_id=uuid.UUID(USER), session_id=uuid.uuid4(), ttl_s=900
    )
    assert decode_access_token(access, secret=SECRET) is not None
    assert read_token(SETTINGS, access) is None


def test_an_unsubscribe_token_is_not_an_access_token() -> None:
    assert decode_access_token(make_token(SETTINGS, USER), secret=SECRET) is None


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": USER, "iat": 1},  # no purpose
        {"sub": USER, "typ": "access", "iat": 1},
        {"sub": USER, "typ": "unsubscribe"},  # no issue time
        {"typ": "unsubscribe", "iat": 1},  # nobody
        {"sub": "", "typ": "unsubscribe", "iat": 1},
    ],
)
def test_a_signed_token_that_is_not_ours_in_shape_is_refused(claims: dict[str, object]) -> None:
    assert read_token(SETTINGS, jwt.encode(claims, SECRET, algorithm="HS256")) is None


@pytest.mark.parametrize("junk", ["", "x", "a.b.c", "..", "\u00e9.\u00e9.\u00e9", "a" * 5000])
def test_junk_is_refused(junk: str) -> None:
    assert read_token(SETTINGS, junk) is None
