"""Security headers on every HTTP response; each HTML page with a policy that allows exactly
what it loads; no caching of responses that carry tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import httpx
from starlette.types import Message, Receive, Scope, Send

from nchat.http_edge.headers import API_POLICY, PAGE_POLICY, TOKEN_PATHS, SecurityHeaders
from tests.fixtures.factories import UserFactory
from tests.http_edge.conftest import client_of, started

API_CSP = API_POLICY.decode()
OWNER = {
    "email": "owner@example.com",
    "username": "owner",
    "password": "a long password",
    "display_name": "The Owner",
}


def assert_common(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def policy(r: httpx.Response) -> dict[str, set[str]]:
    directives = [part.split() for part in r.headers["content-security-policy"].split(";")]
    return {name: set(sources) for name, *sources in directives}


def sha256(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


async def test_json_responses_and_errors_carry_the_headers(client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/api/health/live"),
        await client.get("/api/nowhere"),  # 404
        await client.get("/api/users/me"),  # 401
        await client.post("/graphql", content=b"{", headers={"Content-Type": "application/json"}),
        await client.delete("/api/health/live"),  # 405
    ]
    assert [r.status_code for r in answers] == [200, 404, 401, 400, 405]
    for r in answers:
        assert_common(r)
        assert r.headers["content-security-policy"] == API_CSP
        assert "cache-control" not in r.headers
        # Exactly once each: no header is doubled on the way out.
        assert len(r.headers.get_list("x-frame-options")) == 1


async def test_an_unhandled_error_carries_them_too(database_url: str, tmp_path: Path) -> None:
    async with started(database_url, tmp_path) as app:

        async def boom() -> None:
            raise RuntimeError("a bug")

        app.add_api_route("/api/boom", boom)
        async with client_of(app, raise_app_exceptions=False) as client:
            r = await client.get("/api/boom", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side",
            "details": {},
        }
    }
    assert r.headers["x-request-id"] == "req-500"
    assert_common(r)


async def test_token_responses_are_never_stored(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    setup = await client.post("/api/setup", json={"owner": OWNER, "app_name": "Acme"})
    assert setup.status_code == 201, setup.text
    signin = await client.post(
        "/api/auth/signin", json={"login": "owner", "password": OWNER["password"]}
    )
    assert signin.status_code == 200, signin.text
    refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": signin.json()["refresh_token"]}
    )
    assert refresh.status_code == 200, refresh.text
    auth = {"Authorization": f"Bearer {refresh.json()['access_token']}"}
    opened = await client.patch(
        "/api/admin/config", headers=auth, json={"features": {"signup_open": True}}
    )
    assert opened.status_code == 200, opened.text
    signup = await client.post(
        "/api/auth/signup",
        json={"email": "n@example.com", "username": "newbie", "password": "long enough pw"},
    )
    assert signup.status_code == 201, signup.text
    for r in (setup, signin, refresh, signup, opened):
        assert r.headers["cache-control"] == "no-store"
        assert_common(r)
    me = await client.get("/api/users/me", headers=auth)
    assert me.status_code == 200
    assert "cache-control" not in me.headers


async def test_every_operation_answering_with_tokens_is_covered(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    with_tokens = set()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            answers = {code: r for code, r in operation["responses"].items() if code < "300"}
            if "#/components/schemas/TokenOut" in json.dumps(answers):
                with_tokens.add(path)
    assert with_tokens == TOKEN_PATHS - {"/api/admin/config"}


async def test_nchat_pages_load_only_their_own_origin(client: httpx.AsyncClient) -> None:
    """The web client and the API docs: files of this origin only, nothing inline (more in
    tests/web/)."""
    for path in ("/", "/api/docs"):
        r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert_common(r)
        assert r.headers["content-security-policy"] == PAGE_POLICY
        assert re.findall(r"<script>(.*?)</script>", r.text, re.S) == []
        for url in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert url.startswith("/assets/"), url
    # The document the docs fetch is JSON with the API's policy.
    spec = await client.get("/api/openapi.json")
    assert spec.headers["content-security-policy"] == API_CSP


async def test_graphiql_gets_its_policy_in_development(database_url: str, tmp_path: Path) -> None:
    async with (
        started(database_url, tmp_path, environment="development") as app,
        client_of(app) as client,
    ):
        r = await client.get("/graphql", headers={"Accept": "text/html"})
        query = await client.post("/graphql", json={"query": "{ __typename }"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    csp = policy(r)
    scripts = re.findall(r'<script\s+crossorigin\s+src="([^"]+)"', page)
    assert len(scripts) == 5
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    style = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert csp["script-src"] == {*scripts, sha256(inline[0])}
    assert sha256(style[0]) in csp["style-src"]
    # Its queries, on the same path, are JSON: nothing to load.
    assert query.headers["content-security-policy"] == API_CSP


async def test_a_header_the_response_sets_itself_wins() -> None:
    own = b"SAMEORIGIN"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/plain"), (b"x-frame-options", own)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": "/x", "headers": []}
    await SecurityHeaders(app)(scope, receive, send)
    headers = sent[0]["headers"]
    assert [v for n, v in headers if n == b"x-frame-options"] == [own]
    assert (b"x-content-type-options", b"nosniff") in headers
