"""The REST channel list counts unread messages from its process's copy of recent root
messages (decision 0023). Every test here compares the list with the single channel's view,
which PostgreSQL counts on its own, after writes the copy must learn of: through the API,
through plain SQL (another node, an operator), in a transaction that commits mid-list."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat.channels import listing, recent_roots, repository
from nchat.channels.recent_roots import DEPTH, NEAR, OldMarkers, RecentRoots
from nchat.db.ids import uuid7
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api, kill_session

FIELDS = ("unread_count", "mention_count", "last_read_id", "last_message_at", "is_member")


async def _listed(client: httpx.AsyncClient, user: MadeUser, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/channels", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    return {c["id"]: c for c in r.json()["channels"]}


async def _agree(client: httpx.AsyncClient, api: Api, user: MadeUser) -> dict[str, Any]:
    """Every listed channel's counts, each the same as PostgreSQL's own for that channel;
    returns {channel id: (unread, newest time)}."""
    listed = await _listed(client, user)
    assert listed
    for cid, channel in listed.items():
        view = await api.channel(user, cid)
        assert {k: channel[k] for k in FIELDS} == {k: view[k] for k in FIELDS}, cid
    return {cid: (c["unread_count"], c["last_message_at"]) for cid, c in listed.items()}


async def _write(engine: AsyncEngine, statement: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(statement), params)


INSERT = """
INSERT INTO nchat_messages (id, channel_id, user_id, text, thread_id)
VALUES (:id, :channel, :user, 'from psql', :thread)
"""


async def test_the_list_follows_writes_made_with_plain_sql(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, "copied", members=(bob,)))["id"]
    other = (await api.create_channel(ada, "not-bobs"))["id"]
    first = await api.send(ada, cid, "one")
    await api.send(ada, other, "elsewhere")
    assert (await _agree(client, api, bob))[cid][0] == 1  # loaded into the copy

    new = uuid7()
    await _write(engine, INSERT, id=new, channel=cid, user=ada.id, thread=None)
    assert (await _agree(client, api, bob))[cid][0] == 2
    await _write(engine, INSERT, id=uuid7(), channel=cid, user=ada.id, thread=first["id"])
    assert (await _agree(client, api, bob))[cid][0] == 2  # a reply is not unread
    await _write(engine, "UPDATE nchat_messages SET deleted_at = now() WHERE id = :id", id=new)
    assert (await _agree(client, api, bob))[cid][0] == 1
    await _write(
        engine,
        "UPDATE nchat_messages SET user_id = :bob WHERE id = :id",
        bob=bob.id,
        id=first["id"],
    )
    assert (await _agree(client, api, bob))[cid][0] == 0  # his own now
    await _write(engine, "DELETE FROM nchat_messages WHERE id = :id", id=first["id"])
    assert (await _agree(client, api, bob))[cid] == (0, None)
    # Not a member: the newest time only.
    assert (await _agree(client, api, bob))[other][0] is None


async def test_a_read_marker_older_than_the_copy_is_counted_by_postgres(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, "long", members=(bob,)))["id"]
    sent = [await api.send(ada, cid, f"m{i}") for i in range(DEPTH + 5)]
    assert (await _agree(client, api, bob))[cid][0] == DEPTH + 5
    for read in (sent[3], sent[4], sent[-2]):
        r = await client.post(
            f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": read["id"]}
        )
        assert r.status_code == 200, r.text
        await _agree(client, api, bob)
    assert (await _agree(client, api, bob))[cid][0] == 1


def _second_reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Lists that read again after their statement, from now on."""
    seen: list[Any] = []
    read_the_rest = listing._listed_reading_the_rest

    async def counted(*args: Any) -> Any:
        seen.append(args)
        return await read_the_rest(*args)

    monkeypatch.setattr(listing, "_listed_reading_the_rest", counted)
    return seen


async def test_a_users_old_markers_are_counted_in_the_lists_own_statement_next_time(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first list finds the marker older than the copy and reads again; the next ones
    have PostgreSQL count that channel in their one statement, until the marker is recent."""
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, "far-behind", members=(bob,)))["id"]
    sent = [await api.send(ada, cid, f"m{i}") for i in range(DEPTH + 5)]
    second_reads = _second_reads(monkeypatch)
    old_markers = app.state.list_copies.old_markers
    assert (await _agree(client, api, bob))[cid][0] == DEPTH + 5
    assert old_markers.get(str(bob.id)) == [cid]
    reads = len(second_reads)
    assert (await _agree(client, api, bob))[cid][0] == DEPTH + 5
    await api.send(ada, cid, "one more")
    assert (await _agree(client, api, bob))[cid][0] == DEPTH + 6
    assert len(second_reads) == reads
    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": sent[-1]["id"]}
    )
    assert r.status_code == 200, r.text
    assert (await _agree(client, api, bob))[cid][0] == 1
    assert old_markers.get(str(bob.id)) == []
    assert len(second_reads) == reads


async def _behind(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, name: str, *, read: int
) -> tuple[MadeUser, MadeUser, str]:
    """Ada sends DEPTH + 5 messages in a channel of hers and Bob's; Bob reads up to the
    `read`-th (from 0)."""
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, name, members=(bob,)))["id"]
    sent = [await api.send(ada, cid, f"m{i}") for i in range(DEPTH + 5)]
    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": sent[read]["id"]}
    )
    assert r.status_code == 200, r.text
    return ada, bob, cid


async def test_a_marker_near_the_copys_end_is_counted_in_the_statement_before_it_falls_out(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A marker among the oldest NEAR messages the copy holds is counted by PostgreSQL from
    the next list on, so the messages that push it out of the copy cost no second read."""
    ada, bob, cid = await _behind(client, make_user, api, "near-the-end", read=5)
    assert (await _agree(client, api, bob))[cid][0] == DEPTH - 1  # the copy counts it
    assert app.state.list_copies.old_markers.get(str(bob.id)) == [cid]
    second_reads = _second_reads(monkeypatch)
    for i in range(NEAR):
        await api.send(ada, cid, f"more {i}")
    assert (await _agree(client, api, bob))[cid][0] == DEPTH - 1 + NEAR
    assert second_reads == []


async def test_a_channel_counted_in_the_statement_with_nothing_left_past_the_marker(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
) -> None:
    """The statement's own count of a far-behind channel takes the channel's newest message
    when none is left from the marker on: that channel's, not another's."""
    ada, bob, cid = await _behind(client, make_user, api, "emptied", read=0)
    assert (await _agree(client, api, bob))[cid][0] == DEPTH + 4
    assert app.state.list_copies.old_markers.get(str(bob.id)) == [cid]
    other = (await api.create_channel(ada, "elsewhere"))["id"]
    await api.send(ada, other, "newer, in another channel")
    await _write(
        engine, "UPDATE nchat_messages SET deleted_at = now() WHERE channel_id = :c", c=cid
    )
    assert (await _agree(client, api, bob))[cid] == (0, None)


def _before_the_next_load(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[AsyncConnection], Awaitable[None]]
) -> None:
    """Runs `then` once, when a list next loads channels into the copy: inside its
    transaction, after its first statement."""
    load = recent_roots._load

    async def once(conn: AsyncConnection, channel_ids: list[str]) -> Any:
        monkeypatch.setattr(recent_roots, "_load", load)
        await then(conn)
        return await load(conn, channel_ids)

    monkeypatch.setattr(recent_roots, "_load", once)


async def test_a_write_committed_while_a_list_runs_is_in_none_of_its_reads(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The list's statements share one snapshot: a message and a rename committed between
    them show in neither its counts nor its fields, and the next list shows both."""
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, "before", members=(bob,)))["id"]
    await api.send(ada, cid, "one")
    before = await _listed(client, bob)
    writes = f"""
        WITH m AS ({INSERT} RETURNING channel_id)
        UPDATE nchat_channels SET name = 'after' WHERE id = (SELECT channel_id FROM m)
    """
    params = {"id": uuid7(), "channel": cid, "user": ada.id, "thread": None}

    async def write(_: AsyncConnection) -> None:
        await _write(engine, writes, **params)

    _before_the_next_load(monkeypatch, write)
    monkeypatch.setattr(app.state.list_copies, "roots", RecentRoots())  # it loads the channel

    assert await _listed(client, bob) == before
    after = (await _listed(client, bob))[cid]
    assert (after["name"], after["unread_count"]) == ("after", 2)
    monkeypatch.undo()


async def test_a_copy_older_than_what_housekeeping_removed_starts_again(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, "pruned", members=(bob,)))["id"]
    await api.send(ada, cid, "one")
    assert (await _agree(client, api, bob))[cid][0] == 1
    await _write(engine, INSERT, id=uuid7(), channel=cid, user=ada.id, thread=None)
    # Only rows of transactions older than every running one go (on any database of the
    # server: other tests' transactions may hold the horizon back a moment).
    for _ in range(100):
        async with engine.begin() as conn:
            await recent_roots.prune(conn, older_than_s=0)
        async with engine.connect() as conn:
            left = await conn.scalar(sa.text("SELECT count(*) FROM nchat_root_changes"))
        if left == 0:
            break
        await asyncio.sleep(0.05)
    assert left == 0  # the change that says the channel changed is gone
    assert (await _agree(client, api, bob))[cid][0] == 2


async def test_more_changes_than_the_copy_reads_make_it_start_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada = await make_user()
    bob = await make_user()
    busy = (await api.create_channel(ada, "busy", members=(bob,)))["id"]
    quiet = (await api.create_channel(ada, "quiet", members=(bob,)))["id"]
    idle = (await api.create_channel(ada, "idle", members=(bob,)))["id"]
    await api.send(ada, quiet, "one")
    await _agree(client, api, bob)
    roots = app.state.list_copies.roots
    assert {busy, quiet, idle} <= roots.channels()
    monkeypatch.setattr(recent_roots, "MAX_CHANGES", 3)
    for _ in range(4):
        await _write(engine, INSERT, id=uuid7(), channel=busy, user=ada.id, thread=None)
    # The copy starts again: with the changed channel its statement read, and the listed one.
    await _listed(client, ada, q="quiet")
    assert roots.channels() == {busy, quiet}
    assert (await _agree(client, api, bob))[busy][0] == 4


async def test_changed_channels_come_with_the_lists_statement_up_to_a_limit(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A list's one statement reads the recent messages of the channels changed since the
    copy (LOAD_LIMIT of them); the copy loads the others after it, in the same snapshot."""
    ada = await make_user()
    bob = await make_user()
    cids = [(await api.create_channel(ada, f"ch-{i}", members=(bob,)))["id"] for i in range(3)]
    await _agree(client, api, bob)
    loads: list[list[str]] = []
    load = recent_roots._load

    async def counted(conn: AsyncConnection, channel_ids: list[str]) -> Any:
        loads.append(channel_ids)
        return await load(conn, channel_ids)

    monkeypatch.setattr(recent_roots, "_load", counted)
    for cid in cids[:2]:
        await _write(engine, INSERT, id=uuid7(), channel=cid, user=ada.id, thread=None)
    assert [c[0] for c in (await _agree(client, api, bob)).values()] == [1, 1, 0]
    assert loads == []
    monkeypatch.setattr(recent_roots, "LOAD_LIMIT", 1)
    for cid in cids:
        await _write(engine, INSERT, id=uuid7(), channel=cid, user=ada.id, thread=None)
    assert [c[0] for c in (await _agree(client, api, bob)).values()] == [2, 2, 1]
    assert len(loads) == 1 and len(loads[0]) == 2


async def test_a_list_whose_connection_is_lost_midway_is_a_503_and_the_next_one_works(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada = await make_user()
    cid = (await api.create_channel(ada, "lost"))["id"]

    async def lose(conn: AsyncConnection) -> None:
        await kill_session(engine, await conn.scalar(sa.text("SELECT pg_backend_pid()")))

    _before_the_next_load(monkeypatch, lose)
    r = await client.get("/api/channels", headers=ada.headers)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert cid in await _listed(client, ada)


async def test_lists_racing_sends_never_count_backwards(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    """Lists of two users interleave with sends in one process, so their copies are
    installed and overtaken by one another: each user's unread count only grows, and ends
    at what was sent."""
    ada = await make_user()
    bob = await make_user()
    carol = await make_user()
    cids = [
        (await api.create_channel(ada, f"race-{i}", members=(bob, carol)))["id"] for i in range(3)
    ]
    sent = 0

    async def send() -> None:
        nonlocal sent
        for i in range(24):
            await api.send(ada, cids[i % 3], f"m{i}")
            sent += 1

    async def watch(user: MadeUser) -> list[int]:
        seen = []
        while sent < 24:
            listed = await _listed(client, user)
            seen.append(sum(listed[cid]["unread_count"] for cid in cids))
        return seen

    _, bobs, carols = await asyncio.gather(send(), watch(bob), watch(carol))
    for seen in (bobs, carols):
        assert seen == sorted(seen), seen
    assert len(bobs) + len(carols) > 4  # the lists did run among the sends
    for user in (bob, carol):
        assert sum(c[0] for cid, c in (await _agree(client, api, user)).items()) == 24


async def test_a_load_overtaken_by_a_newer_list_does_not_replace_its_copy(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bob's list loads the channel as of its snapshot; meanwhile a message is sent and
    Carol's list installs the copy as of a newer one. Bob's older load must not become the
    copy of that newer snapshot, or Bob's next list would miss the message."""
    ada = await make_user()
    bob = await make_user()
    carol = await make_user()
    cid = (await api.create_channel(ada, "overtaken", members=(bob, carol)))["id"]
    await api.send(ada, cid, "one")
    monkeypatch.setattr(app.state.list_copies, "roots", RecentRoots())

    async def send_then_carol_lists(_: AsyncConnection) -> None:
        await _write(engine, INSERT, id=uuid7(), channel=cid, user=ada.id, thread=None)
        assert (await _listed(client, carol))[cid]["unread_count"] == 2

    _before_the_next_load(monkeypatch, send_then_carol_lists)
    assert (await _listed(client, bob))[cid]["unread_count"] == 1  # as of its snapshot
    assert (await _listed(client, bob))[cid]["unread_count"] == 2


def test_old_markers_keep_the_latest_users_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OldMarkers, "MAX_USERS", 2)
    hints = OldMarkers()
    for user in ("u1", "u2"):
        hints.remember(user, [f"{user}-channel"])
    hints.remember("u1", ["c1", "c2"])  # the latest again
    hints.remember("u3", ["c3"])
    assert [hints.get(u) for u in ("u1", "u2", "u3")] == [["c1", "c2"], [], ["c3"]]
    hints.remember("u1", [])
    assert hints.get("u1") == []


def test_the_row_records_name_their_statements_columns() -> None:
    """The records are made by position: their fields follow the statements' columns."""
    changes = tuple(column.name for column in recent_roots.CHANGES.c)
    assert recent_roots.Changes._fields == changes
    own = repository._list_statement(
        own=True,
        mine=True,
        by_type=False,
        by_name=False,
        not_member=False,
        archived=None,
        after=False,
    )
    columns = len(own.statement.selected_columns)
    assert columns == len(repository.OwnRow._fields) + len(changes)
    shared = repository._SHARED.statement.selected_columns
    assert len(shared) == len(repository.SharedRow._fields)
