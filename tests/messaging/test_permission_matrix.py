"""Role x channel type x membership x action, through REST and GraphQL alike.

The expected answers are written out here from the rules users are promised, not derived from
the code: guests read and react where they were added but never see or post in public
channels they are not in; members post where they belong; only admins post in announcement
channels; outsiders get 404 for anything private."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

ROLES = ["guest", "member", "moderator", "admin", "owner"]
TYPES = ["public", "private", "announcement", "direct", "group"]


def expected(role: str, kind: str, member: bool, action: str) -> int:
    visible = member or (kind == "public" and role != "guest")
    if not visible:
        return 404
    if action in ("view", "history", "thread", "file", "files", "search"):
        return 200
    if not member:
        return 403
    if action == "react":
        return 200
    # send
    if kind == "public" and role == "guest":
        return 403
    if kind == "announcement" and role not in ("admin", "owner"):
        return 403
    return 201


async def _setup(
    api: Api, client: httpx.AsyncClient, make_user: UserFactory, role: str, kind: str, member: bool
) -> tuple[MadeUser, dict[str, Any], dict[str, Any]]:
    ada = await make_user("owner")
    actor = await make_user(role)
    third = await make_user()
    if kind in ("direct", "group"):
        others = [actor] if member else [third]
        if kind == "group":
            others.append(await make_user())
            if member:
                others.append(third)
        r = await client.post(
            "/api/channels/direct",
            headers=ada.headers,
            json={"user_ids": [str(o.id) for o in others]},
        )
        assert r.status_code == 201, r.text
        channel = r.json()
        assert channel["type"] == kind
    else:
        channel = await api.create_channel(
            ada, f"c-{kind}", type_=kind, members=(actor,) if member else ()
        )
    # The message carries a file: who may fetch it is who may read the message.
    r = await client.post(
        "/api/files", headers=ada.headers, files={"file": ("plan.txt", b"the plan", "text/plain")}
    )
    assert r.status_code == 201, r.text
    message = await api.send(ada, channel["id"], "root message", file_ids=[r.json()["id"]])
    return actor, channel, message


async def _rest(
    client: httpx.AsyncClient,
    actor: MadeUser,
    action: str,
    channel: dict[str, Any],
    message: dict[str, Any],
) -> int:
    h = actor.headers
    if action == "view":
        r = await client.get(f"/api/channels/{channel['id']}", headers=h)
    elif action == "history":
        r = await client.get(f"/api/channels/{channel['id']}/messages", headers=h)
    elif action == "thread":
        r = await client.get(f"/api/messages/{message['id']}/thread", headers=h)
    elif action == "file":
        r = await client.get(message["files"][0]["url"], headers=h)
    elif action == "files":
        r = await client.get(f"/api/channels/{channel['id']}/files", headers=h)
    elif action == "search":
        r = await client.get("/api/search/messages", headers=h, params={"q": "root message "})
        assert r.status_code == 200, r.text
        found = message["id"] in [m["id"] for m in r.json()["messages"]]
        return 200 if found else 404
    elif action == "react":
        r = await client.post(
            f"/api/messages/{message['id']}/reactions", headers=h, json={"emoji": ":eyes:"}
        )
    else:
        r = await client.post(
            "/api/messages", headers=h, json={"channel_id": channel["id"], "text": "hi from rest"}
        )
    if r.status_code >= 400:
        assert "error" in r.json()
    return r.status_code


GQL = {
    "view": ("query($c: ID!) { channel(id: $c) { id } }", 200),
    "history": ("query($c: ID!) { messages(channelId: $c) { id } }", 200),
    "thread": ("query($m: ID!) { thread(messageId: $m) { root { id } } }", 200),
    "file": ("query($m: ID!) { thread(messageId: $m) { root { files { id url } } } }", 200),
    "files": ("query($c: ID!) { messages(channelId: $c) { files { id } } }", 200),
    "react": ('mutation($m: ID!) { addReaction(messageId: $m, emoji: ":eyes:") { id } }', 200),
    "send": ('mutation($c: ID!) { sendMessage(channelId: $c, text: "hi from gql") { id } }', 201),
}


async def _graphql(
    client: httpx.AsyncClient,
    actor: MadeUser,
    action: str,
    channel: dict[str, Any],
    message: dict[str, Any],
) -> int:
    if action == "search":
        r = await client.post(
            "/graphql",
            headers=actor.headers,
            json={"query": 'query { search(query: "root message ") { hits { message { id } } } }'},
        )
        hits = r.json()["data"]["search"]["hits"]
        return 200 if message["id"] in [hit["message"]["id"] for hit in hits] else 404
    query, success = GQL[action]
    r = await client.post(
        "/graphql",
        headers=actor.headers,
        json={
            "query": query,
            "variables": {
                k: v
                for k, v in {"c": channel["id"], "m": message["id"]}.items()
                if f"${k}" in query
            },
        },
    )
    body = r.json()
    if body.get("errors"):
        status: int = body["errors"][0]["extensions"]["status"]
        return status
    return success


@pytest.mark.parametrize("member", [True, False], ids=["member", "outsider"])
@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("role", ROLES)
async def test_messaging_matrix(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    role: str,
    kind: str,
    member: bool,
) -> None:
    actor, channel, message = await _setup(api, client, make_user, role, kind, member)
    wrong = []
    for action in ("view", "history", "thread", "file", "files", "search", "react", "send"):
        want = expected(role, kind, member, action)
        for name, call in (("rest", _rest), ("graphql", _graphql)):
            got = await call(client, actor, action, channel, message)
            if got != want:
                wrong.append(f"{name} {action}: got {got}, want {want}")
    assert not wrong, wrong
