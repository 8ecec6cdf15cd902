"""Which messages count as mentions: names in code are text, not mentions (as in Slack,
Mattermost and Zulip), at send and at edit; in a DM or group DM every unread message counts,
the same in the channel view, the REST list, GraphQL and the read marker's answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

NO_MENTIONS = {"user_ids": [], "channel": False, "here": False}


async def counts(client: httpx.AsyncClient, api: Api, user: MadeUser, cid: str) -> tuple[int, int]:
    """(unread, mentions) of one channel, the same through the channel view, the REST list
    and the GraphQL list."""
    view = await api.channel(user, cid)
    listed = (await client.get("/api/channels?member=true", headers=user.headers)).json()
    [in_list] = [c for c in listed["channels"] if c["id"] == cid]
    query = "{ channels(member: true) { id unreadCount mentionCount } }"
    r = await client.post("/graphql", headers=user.headers, json={"query": query})
    [in_graph] = [c for c in r.json()["data"]["channels"] if c["id"] == cid]
    state = (view["unread_count"], view["mention_count"])
    assert (in_list["unread_count"], in_list["mention_count"]) == state
    assert (in_graph["unreadCount"], in_graph["mentionCount"]) == state
    return state


async def my_mentions(client: httpx.AsyncClient, user: MadeUser) -> list[str]:
    r = await client.get("/api/mentions", headers=user.headers)
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["messages"]]


async def edit(
    client: httpx.AsyncClient, user: MadeUser, message: dict[str, Any], text: str
) -> Any:
    r = await client.put(
        f"/api/messages/{message['id']}", headers=user.headers, json={"text": text}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_name_in_code_mentions_nobody(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "code-talk", members=(bob,)))["id"]
    in_code = [
        "run `@bob` in a code span",
        "```\n@bob in a fenced block\n@channel @here\n```",
        "    @bob in an indented block",
        "~~~python\nprint('@here')\n~~~",
        "`@channel`, `@here` and `@all`",
    ]
    for text in in_code:
        sent = await api.send(ada, cid, text)
        assert sent["mentions"] == NO_MENTIONS, text
        assert "data-user-id" not in sent["html"] and "data-mention" not in sent["html"]
    assert await counts(client, api, bob, cid) == (len(in_code), 0)
    assert await my_mentions(client, bob) == []

    # The same names outside code still count, beside code that holds them too.
    real = await api.send(ada, cid, "@bob, see `@bob` above")
    assert real["mentions"]["user_ids"] == [str(bob.id)]
    everyone = await api.send(ada, cid, "> @channel release at noon\n\n    not @here")
    assert everyone["mentions"] == {"user_ids": [], "channel": True, "here": False}
    assert await counts(client, api, bob, cid) == (len(in_code) + 2, 2)
    assert await my_mentions(client, bob) == [everyone["text"], real["text"]]


async def test_an_edit_that_moves_a_name_into_code_takes_the_mention_back(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "edits", members=(bob,)))["id"]
    message = await api.send(ada, cid, "@bob please run the deploy")
    assert await counts(client, api, bob, cid) == (1, 1)

    edited = await edit(client, ada, message, "`@bob` please run the deploy")
    assert edited["mentions"] == NO_MENTIONS
    assert await counts(client, api, bob, cid) == (1, 0)
    assert await my_mentions(client, bob) == []
    shown = await api.history(bob, cid)
    assert shown["messages"][0]["mentions"] == NO_MENTIONS

    # And out of code again: a mention once more.
    edited = await edit(client, ada, message, "@bob please run `deploy`")
    assert edited["mentions"]["user_ids"] == [str(bob.id)]
    assert await counts(client, api, bob, cid) == (1, 1)
    assert await my_mentions(client, bob) == ["@bob please run `deploy`"]

    # @channel moved into a fenced block: nobody is mentioned.
    group = await api.send(ada, cid, "@channel standup")
    assert await counts(client, api, bob, cid) == (2, 2)
    edited = await edit(client, ada, group, "```\n@channel standup\n```")
    assert edited["mentions"] == NO_MENTIONS
    assert await counts(client, api, bob, cid) == (2, 1)


async def dm(client: httpx.AsyncClient, user: MadeUser, *others: MadeUser) -> str:
    r = await client.post(
        "/api/channels/direct",
        headers=user.headers,
        json={"user_ids": [str(o.id) for o in others]},
    )
    assert r.status_code in (200, 201), r.text
    channel_id: str = r.json()["id"]
    return channel_id


async def test_every_unread_message_of_a_dm_counts_as_a_mention(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    carol = await make_user(username="carol")
    direct = await dm(client, ada, bob)
    group = await dm(client, ada, bob, carol)

    first = await api.send(ada, direct, "lunch?")
    await api.send(ada, direct, "at noon, `@bob`")
    await api.send(bob, direct, "my own message is never unread")
    assert await counts(client, api, bob, direct) == (2, 2)
    assert await counts(client, api, ada, direct) == (1, 1)
    # A reply in a thread is not unread, so not a mention either.
    await api.send(ada, direct, "a reply", thread_id=first["id"])
    assert await counts(client, api, bob, direct) == (2, 2)

    r = await client.post(
        f"/api/channels/{direct}/read", headers=bob.headers, json={"message_id": first["id"]}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["unread_count"], r.json()["mention_count"]) == (1, 1)
    assert await counts(client, api, bob, direct) == (1, 1)

    for text in ("standup?", "in five", "@carol too"):
        await api.send(ada, group, text)
    assert await counts(client, api, bob, group) == (3, 3)
    assert await counts(client, api, carol, group) == (3, 3)
    # The list of my mentions stays the messages that name me.
    assert await my_mentions(client, carol) == ["@carol too"]

    # A channel still counts only what mentions the reader.
    cid = (await api.create_channel(ada, "plain", members=(bob,)))["id"]
    await api.send(ada, cid, "nothing for bob")
    await api.send(ada, cid, "@bob this one")
    assert await counts(client, api, bob, cid) == (2, 1)
