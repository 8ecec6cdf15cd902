from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

SEED_QUERY = """
query GetMessages($channelId: ID!) {
  messages(channelId: $channelId) { id text user { id name } }
}
"""


async def gql(
    client: httpx.AsyncClient, user: MadeUser | None, query: str, **variables: Any
) -> dict[str, Any]:
    headers = user.headers if user else {}
    r = await client.post(
        "/graphql", headers=headers, json={"query": query, "variables": variables}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_seed_query_works_as_written(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    first = await api.send(ada, channel["id"], "one")
    second = await api.send(ada, channel["id"], "two")
    body = await gql(client, ada, SEED_QUERY, channelId=channel["id"])
    assert "errors" not in body
    assert body["data"]["messages"] == [
        {"id": second["id"], "text": "two", "user": {"id": str(ada.id), "name": "Ada"}},
        {"id": first["id"], "text": "one", "user": {"id": str(ada.id), "name": "Ada"}},
    ]


async def test_mutations_and_queries_round_trip(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    created = await gql(
        client,
        ada,
        """
        mutation { createChannel(name: "dev", topic: "code") {
            id name topic isMember channelRole } }
    """,
    )
    channel = created["data"]["createChannel"]
    assert channel["isMember"] and channel["channelRole"] == "admin"
    joined = await gql(
        client, bob, "mutation($id: ID!) { joinChannel(id: $id) { isMember } }", id=channel["id"]
    )
    assert joined["data"]["joinChannel"]["isMember"] is True
    sent = await gql(
        client,
        ada,
        """
        mutation($c: ID!) { sendMessage(channelId: $c, text: "hi @bob", clientId: "k1") {
            id text mentions { userIds } user { username } } }
    """,
        c=channel["id"],
    )
    message = sent["data"]["sendMessage"]
    assert message["mentions"]["userIds"] == [str(bob.id)]
    reply = await gql(
        client,
        bob,
        """
        mutation($c: ID!, $t: ID!) { sendMessage(channelId: $c, text: "yo", threadId: $t) { id } }
    """,
        c=channel["id"],
        t=message["id"],
    )
    assert "errors" not in reply
    reacted = await gql(
        client,
        bob,
        """
        mutation($m: ID!) { addReaction(messageId: $m, emoji: ":+1:") {
            reactions { emoji count me } } }
    """,
        m=message["id"],
    )
    assert reacted["data"]["addReaction"]["reactions"] == [
        {"emoji": ":+1:", "count": 1, "me": True}
    ]
    thread = await gql(
        client,
        ada,
        """
        query($m: ID!) { thread(messageId: $m) {
            root { replyCount } replies { text user { name } } } }
    """,
        m=message["id"],
    )
    assert thread["data"]["thread"] == {
        "root": {"replyCount": 1},
        "replies": [{"text": "yo", "user": {"name": "Bob"}}],
    }
    state = await gql(client, bob, "{ channels(member: true) { name unreadCount mentionCount } }")
    assert state["data"]["channels"] == [{"name": "dev", "unreadCount": 1, "mentionCount": 1}]
    read = await gql(
        client,
        bob,
        """
        mutation($c: ID!, $m: ID!) { markRead(channelId: $c, messageId: $m) { unreadCount } }
    """,
        c=channel["id"],
        m=message["id"],
    )
    assert read["data"]["markRead"]["unreadCount"] == 0
    edited = await gql(
        client,
        ada,
        """
        mutation($m: ID!) { editMessage(id: $m, text: "hello") { text editedAt } }
    """,
        m=message["id"],
    )
    assert edited["data"]["editMessage"]["text"] == "hello"
    deleted = await gql(client, ada, "mutation($m: ID!) { deleteMessage(id: $m) }", m=message["id"])
    assert deleted["data"]["deleteMessage"] is True
    me = await gql(client, bob, "{ me { username email role } }")
    assert me["data"]["me"] == {"username": "bob", "email": bob.email, "role": "member"}
    left = await gql(client, bob, "mutation($id: ID!) { leaveChannel(id: $id) }", id=channel["id"])
    assert left["data"]["leaveChannel"] is True


async def test_errors_carry_the_rest_codes(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    eve = await make_user()
    secret = await api.create_channel(ada, "secret", type_="private")
    body = await gql(client, eve, SEED_QUERY, channelId=secret["id"])
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "channel_not_found"
    anonymous = await gql(client, None, "{ me { id } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "unauthorized"
    bad = await gql(client, ada, SEED_QUERY, channelId="nope")
    assert bad["errors"][0]["extensions"]["code"] == "invalid_id"
    empty = await gql(
        client,
        ada,
        'mutation($c: ID!) { sendMessage(channelId: $c, text: "") { id } }',
        c=secret["id"],
    )
    assert empty["errors"][0]["extensions"]["code"] == "validation_error"
    history = await api.history(ada, secret["id"])
    assert history["messages"] == []
