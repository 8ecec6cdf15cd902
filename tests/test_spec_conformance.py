"""The API answers as its OpenAPI document says, and hostile input is a 4xx in the envelope:
forged cursors, JSON that PostgreSQL cannot store, numbers where booleans belong, methods a
path does not have."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.cursors import encode_text
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

JSON = {"content-type": "application/json"}


def _refused(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert {"code", "message", "details"} <= set(error)
    if code is not None:
        assert error["code"] == code
    return error


async def _raw(
    client: httpx.AsyncClient, method: str, url: str, user: MadeUser, body: str
) -> httpx.Response:
    """`body` is sent as written: JSON escapes such as \\ud800 reach the server unparsed."""
    headers = {**user.headers, **JSON}
    return await client.request(method, url, headers=headers, content=body.encode())


# -- cursors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor", ["AAAA", "AA", "wA", "_w", "YQ\u00e9", encode_text("a\u0000b"), "A" * 200]
)
async def test_forged_user_cursors_are_400(
    client: httpx.AsyncClient, make_user: UserFactory, cursor: str
) -> None:
    owner = await make_user("owner")
    r = await client.get("/api/users", params={"cursor": cursor}, headers=owner.headers)
    _refused(r, 400, "invalid_cursor")


async def test_user_cursors_still_page(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    owner = await make_user("owner", username="a-owner")
    for name in ("b-user", "c-user"):
        await make_user(username=name)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/users", params=params, headers=owner.headers)).json()
        seen += [u["username"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["a-owner", "b-user", "c-user"]


@pytest.mark.parametrize(
    "key",
    [
        "99999999999999999999.1.{now}",  # past bigint
        "1.99999999999999999999.{now}",
        "+1.1.{now}",
        "1_0.1.{now}",
        "\u0661.1.{now}",  # another script's digit one
        "1.1.{now}.1",
        "1.1",
    ],
)
async def test_forged_event_cursors_are_400(
    client: httpx.AsyncClient, make_user: UserFactory, key: str
) -> None:
    ada = await make_user()
    since = encode_text(key.format(now=int(time.time())))
    for url in ("/api/sync/changes", "/api/sync/status"):
        r = await client.get(url, params={"since": since}, headers=ada.headers)
        _refused(r, 400, "invalid_cursor")


async def test_an_audit_cursor_past_bigint_is_422(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    owner = await make_user("owner")
    r = await client.get("/api/admin/audit", params={"cursor": str(2**63)}, headers=owner.headers)
    _refused(r, 422, "validation_error")


# -- what PostgreSQL cannot store -----------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"features": {"x": ' + "[" * depth + "]" * depth + "}}"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_nested(1000), 400),  # too deep to parse at all
        (_nested(300), 422),  # parses; too deep to keep
        (_nested(40), 422),
        ('{"features": {"x": "\\ud800"}}', 422),
        ('{"features": {"\\udfff": 1}}', 422),
        ('{"branding": {"x": ["ok", "\\u0000"]}}', 422),
        ('{"features": {"x": 1e400}}', 422),
        ('{"features": {"x": NaN}}', 422),
        ('{"features": {"x": 123456789012345678901234567890}}', 422),
    ],
)
async def test_config_that_cannot_be_stored_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory, body: str, status: int
) -> None:
    owner = await make_user("owner")
    before = (await client.get("/api/admin/config", headers=owner.headers)).json()
    r = await _raw(client, "PATCH", "/api/admin/config", owner, body)
    _refused(r, status)
    assert (await client.get("/api/admin/config", headers=owner.headers)).json() == before


async def test_config_nested_within_the_limit_reaches_the_typed_check(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """Storable, so the section's shape decides: a key nchat does not know is refused."""
    owner = await make_user("owner")
    r = await _raw(client, "PATCH", "/api/admin/config", owner, _nested(20))
    error = _refused(r, 422, "validation_error")
    assert [e["loc"] for e in error["details"]["errors"]] == [["body", "features", "x"]]


async def test_lone_surrogates_anywhere_are_422(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    owner = await make_user("owner")
    cid = (await api.create_channel(owner, "surrogates"))["id"]
    cases = [
        ("POST", "/api/messages", f'{{"channel_id": "{cid}", "text": "a\\ud800b"}}'),
        (
            "POST",
            "/api/messages",
            f'{{"channel_id": "{cid}", "text": "a", "client_id": "\\udc00"}}',
        ),
        ("PUT", f"/api/users/{owner.id}", '{"display_name": "\\udfff"}'),
        ("POST", "/api/channels", '{"name": "ok", "topic": "\\ud83d"}'),
        (
            "POST",
            "/api/sync/queue",
            '{"operations": [{"client_op_id": "s", "type": "message.send", '
            f'"payload": {{"channel_id": "{cid}", "text": "\\ud800"}}}}]}}',
        ),
        ("POST", "/api/sync/queue", '{"operations": [{"client_op_id": "\\ud800", "type": "x"}]}'),
    ]
    for method, url, body in cases:
        r = await _raw(client, method, url, owner, body)
        assert r.status_code == 422, f"{method} {url} {body}: {r.status_code} {r.text}"
    assert (await api.history(owner, cid))["messages"] == []


# -- booleans -------------------------------------------------------------------------------


async def test_json_booleans_are_strict(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    owner = await make_user("owner")
    member = await make_user()
    channel = await api.create_channel(owner, "strict-bools")
    for value in (0, 1, "true", "false", "yes"):
        r = await client.post(
            "/api/channels",
            headers=owner.headers,
            json={"name": f"c{value}".lower(), "read_only": value},
        )
        _refused(r, 422, "validation_error")
        r = await client.patch(
            f"/api/channels/{channel['id']}", headers=owner.headers, json={"archived": value}
        )
        _refused(r, 422, "validation_error")
        r = await client.put(
            f"/api/users/{member.id}", headers=owner.headers, json={"is_active": value}
        )
        _refused(r, 422, "validation_error")
    r = await client.post(
        "/api/channels", headers=owner.headers, json={"name": "ro", "read_only": True}
    )
    assert r.status_code == 201 and r.json()["read_only"] is True


async def test_query_booleans_still_take_words(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    owner = await make_user("owner")
    await api.create_channel(owner, "words")
    for value in ("true", "false", "1", "0"):
        r = await client.get("/api/channels", params={"member": value}, headers=owner.headers)
        assert r.status_code == 200, r.text
    message = await api.send(owner, (await api.create_channel(owner, "del"))["id"], "bye")
    r = await client.delete(
        f"/api/messages/{message['id']}", params={"hard": "true"}, headers=owner.headers
    )
    assert r.status_code == 204


# -- read markers ---------------------------------------------------------------------------


async def test_a_read_marker_naming_another_channels_message_is_404(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    here = (await api.create_channel(ada, "here"))["id"]
    there = (await api.create_channel(ada, "there"))["id"]
    elsewhere = await api.send(ada, there, "elsewhere")
    r = await client.post(
        f"/api/channels/{here}/read", headers=ada.headers, json={"message_id": elsewhere["id"]}
    )
    _refused(r, 404, "message_not_found")
    assert (await api.channel(ada, here))["last_read_id"] is None


# -- the document and the router agree ------------------------------------------------------


async def test_every_operation_documents_its_refusals_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert "ErrorEnvelope" in schemas and "HTTPValidationError" not in schemas
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            what = f"{method.upper()} {path}"
            for code, response in responses.items():
                if code[0] == "4" or (code[0] == "5" and not path.startswith("/api/health")):
                    assert response["content"]["application/json"]["schema"] == envelope, what
            if operation.get("security"):
                assert {"401", "403", "429"} <= set(responses), what
            if "{" in path:
                assert {"404", "422"} <= set(responses), what
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), what
    assert {"200", "201", "409"} <= set(spec["paths"]["/api/messages"]["post"]["responses"])
    assert spec["paths"]["/api/users"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/api/auth/signin"]["post"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/messages/{id}", {"GET", "HEAD", "PUT", "DELETE"}),
        ("POST", "/api/messages/{id}", {"GET", "HEAD", "PUT", "DELETE"}),
        ("OPTIONS", "/api/messages/{id}", {"GET", "HEAD", "PUT", "DELETE"}),
        ("GET", "/api/messages", {"POST"}),
        ("PUT", "/api/channels/{id}", {"GET", "HEAD", "PATCH", "DELETE"}),
        ("GET", "/api/channels/{id}/members/{id}", {"PUT", "DELETE"}),
        ("PUT", "/api/channels/direct", {"POST"}),
        ("DELETE", "/api/users", {"GET", "HEAD", "POST"}),
    ],
)
async def test_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, make_user: UserFactory, method: str, path: str, allowed: set[str]
) -> None:
    owner = await make_user("owner")
    url = path.replace("{id}", "01a21496-2bae-71f5-95d2-b19f8c740328")
    r = await client.request(method, url, headers=owner.headers)
    _refused(r, 405, "method_not_allowed")
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


# -- configuration keys nchat reads -------------------------------------------------------


@pytest.mark.parametrize(
    "patch",
    [
        {"mobile": {"offlineCache": "x"}},
        {"mobile": {"offlineCache": {"maxMessages": "abc"}}},
        {"mobile": {"offlineCache": {"maxMessages": True}}},
        {"mobile": {"offlineCache": {"maxMessages": -5}}},
        {"mobile": {"offlineCache": {"enabled": "no", "maxMessages": [1]}}},
        {"mobile": {"backgroundSync": {"interval": 0}}},
        {"features": {"signup_open": "yes"}},
        {"branding": {"app_name": ["x"]}},
    ],
)
async def test_config_keys_nchat_reads_are_typed(
    client: httpx.AsyncClient, make_user: UserFactory, patch: dict[str, Any]
) -> None:
    owner = await make_user("owner")
    r = await client.patch("/api/admin/config", headers=owner.headers, json=patch)
    _refused(r, 422, "validation_error")
    boot = await client.get("/api/sync/bootstrap", headers=owner.headers)
    assert boot.status_code == 200 and boot.json()["max_messages"] == 1000
    assert (await client.get("/api/config")).json()["signup_open"] is False


async def test_config_sections_refuse_keys_nchat_does_not_know(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    owner = await make_user("owner")
    patch = {
        "mobile": {"offlineCache": {"enabled": False}, "analytics": {"firebaseConfig": None}},
        "features": {"signup_open": True, "beta_search": "on"},
    }
    r = await client.patch("/api/admin/config", headers=owner.headers, json=patch)
    error = _refused(r, 422, "validation_error")
    assert [e["loc"] for e in error["details"]["errors"]] == [["body", "features", "beta_search"]]
    del patch["features"]["beta_search"]
    r = await client.patch("/api/admin/config", headers=owner.headers, json=patch)
    assert r.status_code == 200, r.text
    boot = await client.get("/api/sync/bootstrap", headers=owner.headers)
    assert boot.json()["max_messages"] == 0


async def test_a_malformed_stored_mobile_section_falls_back_to_defaults(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    """Rows written before the keys were checked: the sync bootstrap was a 500 on them."""
    owner = await make_user("owner")
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_app_config SET mobile = :m"),
            {"m": '{"offlineCache": {"maxMessages": "abc"}}'},
        )
    stored = (await client.get("/api/admin/config", headers=owner.headers)).json()
    assert stored["mobile"]["offlineCache"]["maxMessages"] == 1000
    boot = await client.get("/api/sync/bootstrap", headers=owner.headers)
    assert boot.status_code == 200, boot.text
    assert boot.json()["max_messages"] == 1000
