"""While maintenance mode is on, HTTP writes answer 503 `maintenance` with Retry-After and
change nothing; reads, signing in and refreshing go on; owners and admins write only when
it allows them; GraphQL mutations are refused while queries run; the health checks say so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.factories import MadeUser, UserFactory
from tests.maintenance.conftest import PATH, turn_on
from tests.messaging.helpers import Api

GQL_SEND = """mutation Send($c: ID!) { sendMessage(channelId: $c, text: "over graphql") { id } }"""
GQL_READ = """query Read($c: ID!) { messages(channelId: $c) { id text } }"""


def assert_refused(response: httpx.Response, message: str, retry_after_s: int) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(retry_after_s)
    error = response.json()["error"]
    assert error["code"] == "maintenance"
    assert error["message"] == message
    assert error["details"]["retry_after_s"] == retry_after_s


async def test_writes_are_refused_and_reads_served(
    http: httpx.AsyncClient, make_user: UserFactory, calls: Api
) -> None:
    owner = await make_user("owner")
    member = await make_user("member")
    channel = await calls.create_channel(member, "upgrades", members=(owner,))
    first = await calls.send(member, channel["id"], "before the upgrade")

    state = await turn_on(http, owner, message="Upgrading to 2.0", retry_after_s=60)
    assert state["allow_admins"] is False and state["started_by"] == str(owner.id)
    message = "Upgrading to 2.0"
    cid = channel["id"]
    writes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/api/messages", {"channel_id": cid, "text": "during"}),
        ("PUT", f"/api/messages/{first['id']}", {"text": "edited"}),
        ("DELETE", f"/api/messages/{first['id']}", None),
        ("PATCH", f"/api/channels/{cid}", {"topic": "new"}),
        ("POST", "/api/channels", {"name": "more", "type": "public"}),
        (
            "POST",
            "/api/sync/queue",
            {
                "operations": [
                    {
                        "client_op_id": "op-1",
                        "type": "message.send",
                        "payload": {"channel_id": cid, "text": "queued"},
                    }
                ]
            },
        ),
    ]
    for user in (member, owner):
        for method, path, body in writes:
            response = await http.request(method, path, headers=user.headers, json=body)
            assert_refused(response, message, 60)

    # Reads go on, and people can sign in and keep their sessions.
    assert (await http.get("/api/channels", headers=member.headers)).status_code == 200
    history = await calls.history(member, cid)
    assert [m["text"] for m in history["messages"]] == ["before the upgrade"]
    signin = await http.post(
        "/api/auth/signin", json={"login": member.username, "password": member.password}
    )
    assert signin.status_code == 200, signin.text
    refreshed = await http.post(
        "/api/auth/refresh", json={"refresh_token": signin.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    status = await http.get(PATH, headers=owner.headers)
    assert status.json()["message"] == message and status.json()["enabled"] is True

    off = await http.delete(PATH, headers=owner.headers)
    assert off.status_code == 200 and off.json()["enabled"] is False
    await calls.send(member, cid, "after the upgrade")
    assert (await http.get(PATH, headers=owner.headers)).json() == {
        "enabled": False,
        "message": None,
        "allow_admins": None,
        "retry_after_s": None,
        "started_by": None,
        "started_at": None,
        "updated_at": None,
    }


async def test_changes_are_audited_with_before_and_after(
    http: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    await turn_on(http, admin, message="one")
    started = (await http.get(PATH, headers=admin.headers)).json()["started_at"]
    await turn_on(http, admin, message="two", allow_admins=True, retry_after_s=30)
    again = (await http.get(PATH, headers=admin.headers)).json()
    assert again["started_at"] == started and again["message"] == "two"
    assert (await http.delete(PATH, headers=admin.headers)).status_code == 200
    # Off again changes nothing, and records nothing.
    assert (await http.delete(PATH, headers=admin.headers)).status_code == 200

    entries = (await http.get("/api/admin/audit", headers=admin.headers)).json()["entries"]
    ours = [e for e in entries if e["target_type"] == "maintenance"][::-1]
    assert [e["action"] for e in ours] == [
        "maintenance.enabled",
        "maintenance.updated",
        "maintenance.disabled",
    ]
    assert all(e["actor_id"] == str(admin.id) for e in ours)
    enabled, updated, disabled = (e["details"] for e in ours)
    assert enabled["before"]["enabled"] is False and enabled["after"]["message"] == "one"
    assert updated["before"]["message"] == "one" and updated["after"]["message"] == "two"
    assert updated["after"]["allow_admins"] is True and updated["after"]["retry_after_s"] == 30
    assert disabled["before"]["message"] == "two" and disabled["after"]["enabled"] is False


@pytest.mark.parametrize("role", ["member", "moderator", "guest"])
async def test_only_owners_and_admins_switch_it(
    http: httpx.AsyncClient, make_user: UserFactory, role: str
) -> None:
    user = await make_user(role)
    for method in ("GET", "PUT", "DELETE"):
        body = {"message": "no"} if method == "PUT" else None
        response = await http.request(method, PATH, headers=user.headers, json=body)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
    assert (await http.put(PATH, json={})).status_code == 401
    # Still off: their writes go through.
    admin = await make_user("admin")
    assert (await http.get(PATH, headers=admin.headers)).json()["enabled"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"message": "x" * 501},
        {"retry_after_s": 0},
        {"retry_after_s": 86_401},
        {"allow_admins": "yes please"},
        {"colour": "red"},
    ],
)
async def test_terms_are_validated(
    http: httpx.AsyncClient, make_user: UserFactory, body: dict[str, Any]
) -> None:
    owner = await make_user("owner")
    response = await http.put(PATH, headers=owner.headers, json=body)
    assert response.status_code == 422, response.text
    assert (await http.get(PATH, headers=owner.headers)).json()["enabled"] is False


async def test_admins_write_only_when_allowed(
    http: httpx.AsyncClient, make_user: UserFactory, calls: Api
) -> None:
    owner = await make_user("owner")
    admin = await make_user("admin")
    moderator = await make_user("moderator")
    channel = await calls.create_channel(admin, "ops", members=(owner, moderator))
    send = {"channel_id": channel["id"], "text": "status update"}

    await turn_on(http, owner, message="Admins only", allow_admins=True, retry_after_s=5)
    for user in (owner, admin):
        response = await http.post("/api/messages", headers=user.headers, json=send)
        assert response.status_code == 201, response.text
    assert_refused(
        await http.post("/api/messages", headers=moderator.headers, json=send), "Admins only", 5
    )
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        assert_refused(
            await http.post("/api/messages", headers=headers, json=send), "Admins only", 5
        )

    # Without allow_admins, admins wait like everyone else.
    await turn_on(http, owner, message="Nobody", retry_after_s=5)
    assert_refused(await http.post("/api/messages", headers=admin.headers, json=send), "Nobody", 5)


async def gql(http: httpx.AsyncClient, user: MadeUser, query: str, **extra: Any) -> httpx.Response:
    return await http.post("/graphql", headers=user.headers, json={"query": query, **extra})


async def test_graphql_mutations_are_refused_and_queries_run(
    http: httpx.AsyncClient, make_user: UserFactory, calls: Api
) -> None:
    owner = await make_user("owner")
    member = await make_user("member")
    channel = await calls.create_channel(member, "graph")
    await calls.send(member, channel["id"], "hello graph")
    variables = {"c": channel["id"]}

    await turn_on(http, owner, message="Paused", retry_after_s=9)
    assert_refused(await gql(http, member, GQL_SEND, variables=variables), "Paused", 9)
    read = await gql(http, member, GQL_READ, variables=variables)
    assert read.status_code == 200, read.text
    assert [m["text"] for m in read.json()["data"]["messages"]] == ["hello graph"]

    # A document with both: the operation named is the one that counts; unnamed, either.
    both = f"{GQL_READ}\n{GQL_SEND}"
    named_read = await gql(http, member, both, variables=variables, operationName="Read")
    assert named_read.status_code == 200 and "data" in named_read.json()
    named_send = await gql(http, member, both, variables=variables, operationName="Send")
    assert_refused(named_send, "Paused", 9)
    assert_refused(await gql(http, member, both, variables=variables), "Paused", 9)
    # What cannot be read as a query is not taken for one.
    for body in (b"{not json", b'{"query": "mutation {"}', b"[]"):
        response = await http.post(
            "/graphql", headers={**member.headers, "Content-Type": "application/json"}, content=body
        )
        assert_refused(response, "Paused", 9)

    assert (await http.delete(PATH, headers=owner.headers)).status_code == 200
    sent = await gql(http, member, GQL_SEND, variables=variables)
    assert sent.status_code == 200 and sent.json()["data"]["sendMessage"]["id"], sent.text


async def test_graphql_mutations_of_admins_run_when_allowed(
    http: httpx.AsyncClient, make_user: UserFactory, calls: Api
) -> None:
    owner = await make_user("owner")
    channel = await calls.create_channel(owner, "graph-admins")
    await turn_on(http, owner, allow_admins=True)
    sent = await gql(http, owner, GQL_SEND, variables={"c": channel["id"]})
    assert sent.status_code == 200 and sent.json()["data"]["sendMessage"]["id"], sent.text


async def test_health_says_maintenance_and_ready_refuses(
    http: httpx.AsyncClient, make_user: UserFactory
) -> None:
    owner = await make_user("owner")
    assert (await http.get("/api/health")).json()["status"] == "ok"
    assert (await http.get("/api/health/ready")).status_code == 200

    await turn_on(http, owner, message="Back soon", retry_after_s=42)
    health = await http.get("/api/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "maintenance" and body["database"] == "ok"
    assert body["maintenance"]["message"] == "Back soon"
    assert body["maintenance"]["retry_after_s"] == 42
    ready = await http.get("/api/health/ready")
    assert ready.status_code == 503
    assert ready.json()["reason"] == "not ready: maintenance"
    assert (await http.get("/api/health/live")).status_code == 200

    assert (await http.delete(PATH, headers=owner.headers)).status_code == 200
    assert (await http.get("/api/health")).json()["status"] == "ok"
    assert (await http.get("/api/health/ready")).status_code == 200
