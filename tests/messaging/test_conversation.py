"""Two people hold a whole conversation through REST."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api


async def test_full_conversation(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    general = await api.create_channel(ada, "general")
    assert general["is_member"] and general["channel_role"] == "admin"

    # Bob finds the public channel and joins it.
    listed = (await client.get("/api/channels", headers=bob.headers)).json()["channels"]
    assert [c["name"] for c in listed] == ["general"]
    assert listed[0]["is_member"] is False and listed[0]["unread_count"] is None
    r = await client.post(f"/api/channels/{general['id']}/join", headers=bob.headers)
    assert r.status_code == 200 and r.json()["is_member"]

    hello = await api.send(ada, general["id"], "hello @bob, see **this**")
    assert hello["user"] == {"id": str(ada.id), "username": "ada", "name": "Ada"}
    assert hello["mentions"]["user_ids"] == [str(bob.id)]
    assert hello["text"] == "hello @bob, see **this**"

    bob_view = await api.channel(bob, general["id"])
    assert (bob_view["unread_count"], bob_view["mention_count"]) == (1, 1)
    assert bob_view["last_message_at"] == hello["created_at"]

    # A thread.
    reply = await api.send(bob, general["id"], "on it", thread_id=hello["id"])
    await api.send(ada, general["id"], "thanks", thread_id=hello["id"])
    thread = (await client.get(f"/api/messages/{hello['id']}/thread", headers=bob.headers)).json()
    assert thread["root"]["reply_count"] == 2
    assert set(thread["root"]["participants"]) == {str(ada.id), str(bob.id)}
    assert [m["text"] for m in thread["replies"]] == ["on it", "thanks"]
    # Replies stay out of the channel's history.
    history = await api.history(bob, general["id"])
    assert [m["id"] for m in history["messages"]] == [hello["id"]]

    # Reactions.
    r = await client.post(
        f"/api/messages/{hello['id']}/reactions", headers=bob.headers, json={"emoji": ":tada:"}
    )
    assert r.status_code == 200
    r = await client.post(
        f"/api/messages/{hello['id']}/reactions", headers=ada.headers, json={"emoji": ":tada:"}
    )
    assert r.json()["reactions"] == [{"emoji": ":tada:", "count": 2, "me": True}]
    r = await client.request(
        "DELETE",
        f"/api/messages/{hello['id']}/reactions",
        headers=ada.headers,
        json={"emoji": ":tada:"},
    )
    assert r.json()["reactions"] == [{"emoji": ":tada:", "count": 1, "me": False}]

    # Edit with history.
    r = await client.put(
        f"/api/messages/{hello['id']}",
        headers=ada.headers,
        json={"text": "hello @bob, see **that**"},
    )
    assert r.status_code == 200 and r.json()["edited_at"] is not None
    versions = (
        await client.get(f"/api/messages/{hello['id']}/history", headers=bob.headers)
    ).json()["versions"]
    assert [v["text"] for v in versions] == ["hello @bob, see **this**", "hello @bob, see **that**"]
    # Bob may not edit Ada's message.
    r = await client.put(
        f"/api/messages/{hello['id']}", headers=bob.headers, json={"text": "mine now"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_message_author"

    # Pins and bookmarks.
    assert (await client.post(f"/api/messages/{hello['id']}/pin", headers=bob.headers)).json()[
        "pinned"
    ] is True
    pins = (await client.get(f"/api/channels/{general['id']}/pins", headers=ada.headers)).json()[
        "messages"
    ]
    assert [p["id"] for p in pins] == [hello["id"]]
    assert (
        await client.post(f"/api/messages/{hello['id']}/bookmark", headers=bob.headers)
    ).status_code == 204
    saved = (await client.get("/api/bookmarks", headers=bob.headers)).json()["messages"]
    assert [s["id"] for s in saved] == [hello["id"]]
    mentions = (await client.get("/api/mentions", headers=bob.headers)).json()["messages"]
    assert [m["id"] for m in mentions] == [hello["id"]]

    # Read state.
    r = await client.post(
        f"/api/channels/{general['id']}/read", headers=bob.headers, json={"message_id": hello["id"]}
    )
    assert r.json()["unread_count"] == 0 and r.json()["mention_count"] == 0

    # A DM, then deletes.
    dm = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    assert dm.status_code == 201 and dm.json()["type"] == "direct"
    again = await client.post(
        "/api/channels/direct", headers=bob.headers, json={"user_ids": [str(ada.id)]}
    )
    assert again.status_code == 200 and again.json()["id"] == dm.json()["id"]
    secret = await api.send(bob, dm.json()["id"], "psst")
    assert (
        await client.delete(f"/api/messages/{reply['id']}", headers=bob.headers)
    ).status_code == 204
    thread = (await client.get(f"/api/messages/{hello['id']}/thread", headers=ada.headers)).json()
    assert thread["root"]["reply_count"] == 1
    placeholder = thread["replies"][0]
    assert placeholder["id"] == reply["id"] and placeholder["text"] is None
    assert placeholder["deleted_at"] is not None
    dm_history = await api.history(ada, dm.json()["id"])
    assert [m["text"] for m in dm_history["messages"]] == ["psst"]
    assert secret["channel_id"] == dm.json()["id"]
