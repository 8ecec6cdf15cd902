"""verify_action (Zulip's test_events idea): for every action, the state an observer had
before, plus the events the action sent them, equals the state fetched fresh afterwards.

The state is what a client keeps: the channels it is a member of (the fields of ChannelInfo,
its membership and its read marker), the messages and thread replies of those channels (the
message JSON as REST returns it, reactions as {emoji: count}: events carry every `me` as
false), the pinned flags, the users, and the observer's notification settings (their own and
each channel's that differs from the default). Each observer reads /api/sync/changes from a cursor
taken just before the action until the log's horizon has passed the action's transactions:
"no event" is then a proven absence, not an impatient read. Every event is validated against
EVENT_DATA[type] on the way in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.channels.events import ChannelInfo
from nchat.messages.schemas import Mentions, MessageOut
from nchat.realtime.cursor import Position
from nchat.realtime.events import EVENT_DATA
from nchat.users.schemas import UserOut
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

Json = dict[str, Any]
Action = Callable[[], Awaitable[httpx.Response]]

INSTANT: TypeAdapter[datetime] = TypeAdapter(datetime)
CHANNEL_INFO = tuple(ChannelInfo.model_fields)
DM_TYPES = ("direct", "group")
# Delivery waits for every older transaction on the server (other tests' too).
SETTLE_S = 15.0


# -- the client-side model ---------------------------------------------------


def instant(value: str) -> str:
    """One spelling per instant ("...Z" and "+00:00" are the same time)."""
    dumped: str = INSTANT.dump_python(INSTANT.validate_python(value), mode="json")
    return dumped


def channel_info(data: Json) -> Json:
    picked = {k: data[k] for k in CHANNEL_INFO}
    return ChannelInfo.model_validate(picked).model_dump(mode="json")


def channel_state(data: Json) -> Json:
    """A channel as REST lists it, cut to what events maintain."""
    return {
        **channel_info(data),
        "is_member": data["is_member"],
        "channel_role": data["channel_role"],
        "last_read_id": data["last_read_id"],
    }


def message_state(data: Json) -> Json:
    out = MessageOut.model_validate(data).model_dump(mode="json")
    out["reactions"] = {r["emoji"]: r["count"] for r in out["reactions"]}
    return out


def user_state(data: Json) -> Json:
    return UserOut.model_validate(data).model_dump(mode="json")


@dataclass
class State:
    channels: dict[str, Json] = field(default_factory=dict)
    messages: dict[str, Json] = field(default_factory=dict)
    users: dict[str, Json] = field(default_factory=dict)
    # The observer's notification preferences, and their channels' settings by channel id.
    preferences: Json = field(default_factory=dict)
    channel_prefs: dict[str, Json] = field(default_factory=dict)
    # Channels this user joined through events: a client loads their history through REST.
    needs_history: set[str] = field(default_factory=set)


def _drop_channel(state: State, channel_id: str) -> None:
    state.channels.pop(channel_id, None)
    state.needs_history.discard(channel_id)
    for key in [k for k, m in state.messages.items() if m["channel_id"] == channel_id]:
        del state.messages[key]


def apply(state: State, event: Json, me: str) -> None:
    """The reducer: what a client does with each event type."""
    kind, data = event["type"], event["data"]
    EVENT_DATA[kind].model_validate(data)
    if kind in ("message.created", "message.updated"):
        state.messages[data["id"]] = message_state(data)
    elif kind == "message.deleted":
        target = data["message_id"]
        if data["hard"]:
            state.messages.pop(target, None)
            # The thread's replies go with their root.
            for key in [k for k, m in state.messages.items() if m["thread_id"] == target]:
                del state.messages[key]
        else:
            # The placeholder: no text, reactions, mentions or pin; deleted when the event was
            # written (the same transaction, so the same now()).
            state.messages[target].update(
                text=None,
                html=None,
                reactions={},
                mentions=Mentions().model_dump(mode="json"),
                pinned=False,
                deleted_at=instant(event["created_at"]),
            )
    elif kind in ("reaction.added", "reaction.removed"):
        reactions = state.messages[data["message_id"]]["reactions"]
        if data["count"]:
            reactions[data["emoji"]] = data["count"]
        else:
            reactions.pop(data["emoji"], None)
    elif kind in ("message.pinned", "message.unpinned"):
        state.messages[data["message_id"]]["pinned"] = kind == "message.pinned"
    elif kind == "channel.created":
        creator = data["created_by"] == me and data["type"] not in DM_TYPES
        state.channels[data["id"]] = {
            **channel_info(data),
            "is_member": True,
            "channel_role": "admin" if creator else "member",
            "last_read_id": None,
        }
    elif kind in ("channel.updated", "channel.archived"):
        state.channels[data["id"]].update(channel_info(data))
    elif kind == "member.joined":
        channel_id = data["channel_id"]
        if data["user_id"] == me:
            state.channels[channel_id] = {
                **channel_info(data["channel"]),
                "is_member": True,
                "channel_role": data["role"],
                "last_read_id": None,
            }
            state.needs_history.add(channel_id)
        else:
            state.channels[channel_id].update(channel_info(data["channel"]))
    elif kind == "member.left":
        if data["user_id"] == me:
            _drop_channel(state, data["channel_id"])
        else:
            state.channels[data["channel_id"]]["member_count"] -= 1
    elif kind == "member.updated":
        if data["user_id"] == me:
            state.channels[data["channel_id"]]["channel_role"] = data["role"]
    elif kind == "read.updated":
        state.channels[data["channel_id"]]["last_read_id"] = data["last_read_id"]
    elif kind == "notification_preferences.updated":
        state.preferences = data
    elif kind == "channel_notification_preferences.updated":
        # The list leaves out what says the default.
        if data["level"] == "default" and not data["muted"]:
            state.channel_prefs.pop(data["channel_id"], None)
        else:
            state.channel_prefs[data["channel_id"]] = data
    elif kind == "user.updated":
        user = user_state(data)
        known = state.users.get(user["id"])
        if user["email"] is None and known is not None:
            user["email"] = known["email"]  # never in events; kept from what REST showed
        state.users[user["id"]] = user
        # Messages show their author's current name.
        for message in state.messages.values():
            if message["user"]["id"] == user["id"]:
                message["user"].update(username=user["username"], name=user["name"])
    else:
        raise AssertionError(f"no reducer for {kind}")


# -- the harness ---------------------------------------------------------------


@dataclass
class Outcome:
    response: httpx.Response
    events: dict[str, list[Json]]  # by observer's username


class Harness:
    def __init__(self, client: httpx.AsyncClient, engine: AsyncEngine) -> None:
        self.client = client
        self.engine = engine

    async def get(self, user: MadeUser, url: str, **params: Any) -> Any:
        r = await self.client.get(url, headers=user.headers, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def changes(self, user: MadeUser, since: str | None = None) -> Json:
        params: Json = {"limit": 50}
        if since is not None:
            params["since"] = since
        page: Json = await self.get(user, "/api/sync/changes", **params)
        for event in page["events"]:
            EVENT_DATA[event["type"]].model_validate(event["data"])
        return page

    async def xid(self) -> int:
        """A transaction id newer than every transaction that has committed so far."""
        async with self.engine.begin() as conn:
            return int(await conn.scalar(sa.text("SELECT pg_current_xact_id()::text::bigint")))

    async def cursor(self, user: MadeUser, after_xid: int) -> str:
        """The current cursor (GET /api/sync/changes without `since`), once it is past every
        transaction up to `after_xid`: nothing written before can arrive after it. (Such a
        page may hold events: those whose transactions ended while it was being read.)"""
        deadline = asyncio.get_running_loop().time() + SETTLE_S
        while True:
            page = await self.changes(user)
            if Position.decode(page["cursor"]).xid > after_xid:
                return str(page["cursor"])
            assert asyncio.get_running_loop().time() < deadline, "the horizon did not move"
            await asyncio.sleep(0.01)

    async def settle(self, user: MadeUser, since: str, count: int, after_xid: int) -> list[Json]:
        """Events from `since` until `count` came and the cursor passed `after_xid`; then one
        more read a little later, which must bring nothing."""
        events: list[Json] = []
        cursor = since
        deadline = asyncio.get_running_loop().time() + SETTLE_S
        while True:
            page = await self.changes(user, cursor)
            events += page["events"]
            cursor = page["cursor"]
            passed = Position.decode(cursor).xid > after_xid
            if passed and not page["has_more"] and len(events) >= count:
                break
            assert asyncio.get_running_loop().time() < deadline, (user.username, events)
            if not page["events"]:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert (await self.changes(user, cursor))["events"] == []
        return events

    async def messages_of(self, user: MadeUser, channel_id: str) -> dict[str, Json]:
        out: dict[str, Json] = {}
        history = await self.get(user, f"/api/channels/{channel_id}/messages", limit=200)
        assert history["has_more"] is False
        for message in history["messages"]:
            out[message["id"]] = message_state(message)
            thread = await self.get(user, f"/api/messages/{message['id']}/thread", limit=200)
            assert thread["has_more"] is False
            assert message_state(thread["root"]) == out[message["id"]]
            out.update({reply["id"]: message_state(reply) for reply in thread["replies"]})
        return out

    async def state(self, user: MadeUser) -> State:
        state = State()
        for archived in ("false", "true"):
            listed = await self.get(
                user, "/api/channels", member="true", archived=archived, limit=1000
            )
            assert listed["next_cursor"] is None
            state.channels.update({c["id"]: channel_state(c) for c in listed["channels"]})
        for channel_id in state.channels:
            state.messages.update(await self.messages_of(user, channel_id))
        users = await self.get(user, "/api/users", limit=200)
        state.users = {u["id"]: user_state(u) for u in users["users"]}
        state.preferences = await self.get(user, "/api/users/me/notification-preferences")
        listed = await self.get(user, "/api/users/me/channel-notification-preferences")
        state.channel_prefs = {c["channel_id"]: c for c in listed["channels"]}
        return state

    async def verify(self, action: Action, expect: Sequence[tuple[MadeUser, list[str]]]) -> Outcome:
        """Run `action`; each observer must get exactly the listed event types, and their
        state before plus those events must equal their state after."""
        before_xid = await self.xid()
        cursors = [await self.cursor(user, before_xid) for user, _ in expect]
        states = [await self.state(user) for user, _ in expect]
        response = await action()
        assert response.status_code < 300, response.text
        after_xid = await self.xid()
        seen: dict[str, list[Json]] = {}
        for (user, types), since, state in zip(expect, cursors, states, strict=True):
            events = await self.settle(user, since, len(types), after_xid)
            assert [e["type"] for e in events] == types, (user.username, events)
            for event in events:
                apply(state, event, str(user.id))
            for channel_id in state.needs_history:
                state.messages.update(await self.messages_of(user, channel_id))
            fresh = await self.state(user)
            assert state.channels == fresh.channels, user.username
            assert state.messages == fresh.messages, user.username
            assert state.users == fresh.users, user.username
            assert state.preferences == fresh.preferences, user.username
            assert state.channel_prefs == fresh.channel_prefs, user.username
            seen[user.username] = events
        return Outcome(response, seen)


@pytest.fixture
def h(client: httpx.AsyncClient, engine: AsyncEngine) -> Harness:
    return Harness(client, engine)


async def people(make_user: UserFactory, n: int) -> list[MadeUser]:
    return [await make_user() for _ in range(n)]


def see(types: str | list[str], *users: MadeUser) -> list[tuple[MadeUser, list[str]]]:
    """What each of `users` must receive: one event type, or a list (empty: nothing)."""
    return [(user, [types] if isinstance(types, str) else types) for user in users]


def act(h: Harness, method: str, user: MadeUser, url: str, body: Json | None = None) -> Action:
    return lambda: h.client.request(method, url, headers=user.headers, json=body)


def send(h: Harness, user: MadeUser, channel_id: str, text: str, **extra: Any) -> Action:
    return act(h, "POST", user, "/api/messages", {"channel_id": channel_id, "text": text, **extra})


def react(h: Harness, user: MadeUser, message_id: str, emoji: str, *, add: bool) -> Action:
    url = f"/api/messages/{message_id}/reactions"
    return act(h, "POST" if add else "DELETE", user, url, {"emoji": emoji})


# -- messages --------------------------------------------------------------------


async def test_send_message(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    lobby = await api.create_channel(ada, "lobby", members=(bob, dave))
    quiet = await api.create_channel(ada, "quiet", members=(bob,))

    done = await h.verify(
        send(h, ada, secret["id"], f"hi @{bob.username}"),
        see("message.created", ada, bob) + see([], dave),
    )
    created = done.events[bob.username][0]
    assert created["channel_id"] == secret["id"]
    assert created["data"] == done.response.json()
    assert created["data"]["mentions"]["user_ids"] == [str(bob.id)]

    await h.verify(send(h, bob, lobby["id"], "hi all"), see("message.created", ada, bob, dave))
    # A public channel's events reach its members only, not everyone who could read it.
    await h.verify(
        send(h, bob, quiet["id"], "members only"), see("message.created", ada) + see([], dave)
    )


async def test_reply_in_a_thread_updates_the_root(
    h: Harness, make_user: UserFactory, api: Api
) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    root = await api.send(ada, secret["id"], "root")
    both = ["message.created", "message.updated"]

    done = await h.verify(
        send(h, bob, secret["id"], "first reply", thread_id=root["id"]),
        see(both, ada, bob) + see([], dave),
    )
    reply, updated = done.events[ada.username]
    assert reply["data"]["thread_id"] == root["id"]
    assert updated["data"]["id"] == root["id"] and updated["data"]["reply_count"] == 1
    assert updated["data"]["participants"] == sorted([str(ada.id), str(bob.id)])

    done = await h.verify(
        send(h, ada, secret["id"], "second reply", thread_id=root["id"]), see(both, ada, bob)
    )
    assert done.events[bob.username][1]["data"]["reply_count"] == 2


async def test_edit(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    hello = await api.send(ada, secret["id"], "hello")
    assert (await react(h, bob, hello["id"], ":+1:", add=True)()).status_code == 200
    text = f"hello @{bob.username}"

    done = await h.verify(
        act(h, "PUT", ada, f"/api/messages/{hello['id']}", {"text": text}),
        see("message.updated", ada, bob) + see([], dave),
    )
    data = done.events[ada.username][0]["data"]
    assert data["text"] == text and data["edited_at"] is not None
    assert data["mentions"]["user_ids"] == [str(bob.id)]
    # One event serves every viewer: `me` is false even for the one who reacted.
    assert data["reactions"] == [{"emoji": ":+1:", "count": 1, "me": False}]


async def test_soft_delete_of_a_message(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    doomed = await api.send(ada, secret["id"], f"doomed @{bob.username}")
    await api.send(bob, secret["id"], "a reply that stays", thread_id=doomed["id"])
    assert (await react(h, bob, doomed["id"], ":x:", add=True)()).status_code == 200
    assert (await act(h, "POST", bob, f"/api/messages/{doomed['id']}/pin")()).status_code == 200

    done = await h.verify(
        act(h, "DELETE", ada, f"/api/messages/{doomed['id']}"),
        see("message.deleted", ada, bob) + see([], dave),
    )
    deleted = {"message_id": doomed["id"], "thread_id": None, "hard": False}
    assert done.events[bob.username][0]["data"] == deleted
    assert (await h.get(ada, f"/api/channels/{secret['id']}/pins"))["messages"] == []


async def test_soft_delete_of_a_reply(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    root = await api.send(ada, secret["id"], "root")
    await api.send(ada, secret["id"], "stays", thread_id=root["id"])
    reply = await api.send(bob, secret["id"], "goes", thread_id=root["id"])

    done = await h.verify(
        act(h, "DELETE", bob, f"/api/messages/{reply['id']}"),
        see(["message.deleted", "message.updated"], ada, bob) + see([], dave),
    )
    deleted, updated = done.events[ada.username]
    assert deleted["data"] == {"message_id": reply["id"], "thread_id": root["id"], "hard": False}
    assert updated["data"]["id"] == root["id"] and updated["data"]["reply_count"] == 1


async def test_hard_delete_by_an_admin(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob = await people(make_user, 2)
    admin = await make_user("admin")
    general = await api.create_channel(ada, "general", members=(bob, admin))
    root = await api.send(ada, general["id"], "root")
    live = await api.send(bob, general["id"], "live reply", thread_id=root["id"])
    gone = await api.send(bob, general["id"], "soft-deleted reply", thread_id=root["id"])
    await api.send(ada, general["id"], "another reply", thread_id=root["id"])
    assert (await act(h, "DELETE", bob, f"/api/messages/{gone['id']}")()).status_code == 204

    def hard(message_id: str) -> Action:
        return act(h, "DELETE", admin, f"/api/messages/{message_id}?hard=true")

    # A live reply: it goes and the root's count follows.
    done = await h.verify(
        hard(live["id"]), see(["message.deleted", "message.updated"], ada, bob, admin)
    )
    deleted, updated = done.events[bob.username]
    assert deleted["data"] == {"message_id": live["id"], "thread_id": root["id"], "hard": True}
    assert updated["data"]["reply_count"] == 1
    # An already soft-deleted reply: it no longer counted, so the root does not change.
    await h.verify(hard(gone["id"]), see("message.deleted", ada, bob, admin))
    # A root: its replies go with it.
    await h.verify(hard(root["id"]), see("message.deleted", ada, bob, admin))
    assert (await h.get(ada, f"/api/channels/{general['id']}/messages"))["messages"] == []


async def test_reactions_carry_counts(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    hello = await api.send(ada, secret["id"], "hello")
    steps = [
        (bob, True, "reaction.added", 1),
        (ada, True, "reaction.added", 2),
        (ada, False, "reaction.removed", 1),
        (bob, False, "reaction.removed", 0),
    ]
    for who, add, kind, count in steps:
        done = await h.verify(
            react(h, who, hello["id"], "🎉", add=add), see(kind, ada, bob) + see([], dave)
        )
        assert done.events[ada.username][0]["data"] == {
            "message_id": hello["id"],
            "emoji": "🎉",
            "user_id": str(who.id),
            "count": count,
        }
    # Reacting twice with the same emoji changes nothing, and says nothing.
    assert (await react(h, bob, hello["id"], ":ok:", add=True)()).status_code == 200
    await h.verify(react(h, bob, hello["id"], ":ok:", add=True), see([], ada, bob))


async def test_pin_and_unpin(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    hello = await api.send(ada, secret["id"], "hello")
    url = f"/api/messages/{hello['id']}/pin"

    done = await h.verify(act(h, "POST", bob, url), see("message.pinned", ada, bob) + see([], dave))
    pinned = {"message_id": hello["id"], "user_id": str(bob.id)}
    assert done.events[ada.username][0]["data"] == pinned
    await h.verify(act(h, "DELETE", ada, url), see("message.unpinned", ada, bob) + see([], dave))


# -- channels ----------------------------------------------------------------------


async def test_create_channel(h: Harness, make_user: UserFactory) -> None:
    ada, bob, dave = await people(make_user, 3)
    for name, type_ in (("open", "public"), ("closed", "private")):
        body = {"name": name, "type": type_, "topic": "t", "member_ids": [str(bob.id)]}
        done = await h.verify(
            act(h, "POST", ada, "/api/channels", body),
            see("channel.created", ada, bob) + see([], dave),
        )
        data = done.events[bob.username][0]["data"]
        assert data["name"] == name and data["type"] == type_ and data["member_count"] == 2
        assert data["created_by"] == str(ada.id)

    done = await h.verify(
        act(h, "POST", ada, "/api/channels/direct", {"user_ids": [str(bob.id)]}),
        see("channel.created", ada, bob) + see([], dave),
    )
    assert done.events[ada.username][0]["data"]["type"] == "direct"


async def test_update_channel_topic(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    patch = {"topic": "launch day", "description": "all about it"}

    done = await h.verify(
        act(h, "PATCH", ada, f"/api/channels/{secret['id']}", patch),
        see("channel.updated", ada, bob) + see([], dave),
    )
    data = done.events[bob.username][0]["data"]
    assert data["topic"] == "launch day" and data["description"] == "all about it"


async def test_archive_and_unarchive(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    await api.send(bob, secret["id"], "last words")
    url = f"/api/channels/{secret['id']}"

    done = await h.verify(
        act(h, "DELETE", ada, url), see("channel.archived", ada, bob) + see([], dave)
    )
    data = done.events[bob.username][0]["data"]
    assert data["archived"] is True and data["archived_at"] is not None

    done = await h.verify(
        act(h, "PATCH", ada, url, {"archived": False}),
        see("channel.updated", ada, bob) + see([], dave),
    )
    assert done.events[ada.username][0]["data"]["archived_at"] is None


async def test_join_and_leave(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    general = await api.create_channel(ada, "general")
    await api.send(ada, general["id"], "before bob came")
    base = f"/api/channels/{general['id']}"

    done = await h.verify(
        act(h, "POST", bob, f"{base}/join"), see("member.joined", ada, bob) + see([], dave)
    )
    joined = done.events[bob.username][0]["data"]
    assert joined["user_id"] == str(bob.id) and joined["role"] == "member"
    assert joined["channel"]["member_count"] == 2

    done = await h.verify(
        act(h, "POST", bob, f"{base}/leave"), see("member.left", ada, bob) + see([], dave)
    )
    assert done.events[bob.username][0]["data"]["user_id"] == str(bob.id)
    # Gone is gone: nothing more of this channel reaches bob.
    await h.verify(
        send(h, ada, general["id"], "after bob left"), see("message.created", ada) + see([], bob)
    )


async def test_add_and_remove_a_member(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, carol, dave = await people(make_user, 4)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    await api.send(bob, secret["id"], "history carol did not see")
    base = f"/api/channels/{secret['id']}/members"

    done = await h.verify(
        act(h, "POST", ada, base, {"user_ids": [str(carol.id)]}),
        see("member.joined", ada, bob, carol) + see([], dave),
    )
    joined = done.events[carol.username][0]["data"]
    assert joined["user_id"] == str(carol.id) and joined["channel"]["name"] == "secret"

    done = await h.verify(
        act(h, "DELETE", ada, f"{base}/{bob.id}"),
        see("member.left", ada, bob, carol) + see([], dave),
    )
    # The removed member got their own copy, the others the channel's: the same data.
    copies = {e["data"]["user_id"] for events in done.events.values() for e in events}
    assert copies == {str(bob.id)}

    await h.verify(
        send(h, ada, secret["id"], "after bob was removed"),
        see("message.created", ada, carol) + see([], bob, dave),
    )


async def test_channel_member_role_change(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, carol, dave = await people(make_user, 4)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob, carol))
    url = f"/api/channels/{secret['id']}/members/{bob.id}"

    for role in ("admin", "member"):
        done = await h.verify(
            act(h, "PUT", ada, url, {"role": role}),
            see("member.updated", ada, bob, carol) + see([], dave),
        )
        data = done.events[carol.username][0]["data"]
        assert data["user_id"] == str(bob.id) and data["role"] == role


async def test_mark_read_reaches_only_the_reader(
    h: Harness, make_user: UserFactory, api: Api
) -> None:
    ada, bob = await people(make_user, 2)
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    first = await api.send(bob, secret["id"], "one")
    second = await api.send(bob, secret["id"], "two")
    url = f"/api/channels/{secret['id']}/read"

    done = await h.verify(
        act(h, "POST", ada, url, {"message_id": second["id"]}),
        see("read.updated", ada) + see([], bob),
    )
    # With the counts after the read: nothing left unread.
    marker = {
        "channel_id": secret["id"],
        "last_read_id": second["id"],
        "unread_count": 0,
        "mention_count": 0,
    }
    assert done.events[ada.username][0]["data"] == marker
    # The marker only moves forward: reading an older message changes nothing, says nothing.
    await h.verify(act(h, "POST", ada, url, {"message_id": first["id"]}), see([], ada, bob))


# -- users -------------------------------------------------------------------------


async def test_user_profile_update(h: Harness, make_user: UserFactory, api: Api) -> None:
    ada, bob, dave = await people(make_user, 3)
    admin = await make_user("admin")
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    await api.send(bob, secret["id"], "signed with my old name")
    profile = {"display_name": "Robert", "status_text": "on holiday", "timezone": "UTC"}

    done = await h.verify(
        act(h, "PUT", bob, f"/api/users/{bob.id}", profile),
        see("user.updated", ada, bob, dave, admin),
    )
    for events in done.events.values():
        data = events[0]["data"]
        assert data["id"] == str(bob.id) and data["name"] == "Robert"
        assert data["email"] is None  # not for everyone's eyes, whoever reads
        assert events[0]["channel_id"] is None  # seen by every user

    done = await h.verify(
        act(h, "PUT", admin, f"/api/users/{bob.id}", {"role": "guest"}),
        see("user.updated", ada, bob, dave, admin),
    )
    assert done.events[ada.username][0]["data"]["role"] == "guest"


# -- visibility --------------------------------------------------------------------


async def test_outsider_sees_nothing_of_a_private_channel(
    h: Harness, make_user: UserFactory, api: Api
) -> None:
    """Everything that happens in a private channel, read by someone outside it from a
    cursor taken before it existed: not one event."""
    ada, bob, dave = await people(make_user, 3)
    start = await h.cursor(dave, await h.xid())
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    hello = await api.send(ada, secret["id"], "hello")
    reply = await api.send(bob, secret["id"], "reply", thread_id=hello["id"])
    base = f"/api/channels/{secret['id']}"
    for action in (
        react(h, bob, hello["id"], ":eyes:", add=True),
        act(h, "POST", bob, f"/api/messages/{hello['id']}/pin"),
        act(h, "PUT", ada, f"/api/messages/{hello['id']}", {"text": "hi"}),
        act(h, "DELETE", bob, f"/api/messages/{reply['id']}"),
        act(h, "PATCH", ada, base, {"topic": "x"}),
        act(h, "PUT", ada, f"{base}/members/{bob.id}", {"role": "admin"}),
        act(h, "POST", bob, f"{base}/leave"),
        act(h, "DELETE", ada, base),
        # What is meant for everyone does reach the outsider.
        act(h, "PUT", ada, f"/api/users/{ada.id}", {"locale": "fr"}),
    ):
        r = await action()
        assert r.status_code < 300, r.text
    events = await h.settle(dave, start, 1, await h.xid())
    assert [(e["type"], e["channel_id"]) for e in events] == [("user.updated", None)]


# -- notification settings -----------------------------------------------------------------


async def test_notification_settings_reach_only_their_owner(
    h: Harness, make_user: UserFactory, api: Api
) -> None:
    ada, bob = await people(make_user, 2)
    lobby = await api.create_channel(ada, "lobby", members=(bob,))
    url = f"/api/channels/{lobby['id']}/notification-preferences"
    channel = "channel_notification_preferences.updated"

    done = await h.verify(
        act(h, "PUT", ada, url, {"muted": True}), see(channel, ada) + see([], bob)
    )
    assert done.events[ada.username][0]["channel_id"] == lobby["id"]
    await h.verify(act(h, "PUT", ada, url, {"level": "all"}), see(channel, ada) + see([], bob))
    # Back to the default: the list drops it, and the event says so.
    await h.verify(
        act(h, "PUT", ada, url, {"level": "default", "muted": False}),
        see(channel, ada) + see([], bob),
    )
    # The same again: nothing changed, nothing said.
    await h.verify(act(h, "PUT", ada, url, {"muted": False}), see([], ada, bob))

    mine = "/api/users/me/notification-preferences"
    body = {"level": "nothing", "dnd": {"enabled": True, "start": "22:00", "end": "07:00"}}
    done = await h.verify(
        act(h, "PUT", bob, mine, body),
        see("notification_preferences.updated", bob) + see([], ada),
    )
    assert done.events[bob.username][0]["channel_id"] is None
    await h.verify(act(h, "PUT", bob, mine, {"level": "nothing"}), see([], ada, bob))
