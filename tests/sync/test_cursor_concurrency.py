"""The cursor guarantee under concurrency.

Writers send messages through REST concurrently, so their transactions commit out of
event-id order; other transactions write events directly and stay open for random short
times, so some commit long after later ones. Meanwhile readers page through
/api/sync/changes with small limits and, at random points, resume from a cursor they were
given earlier (a page's cursor or an event's id). Every event must reach every reader
exactly once, all readers must see one order, a writer's sequential sends must keep their
order, and resuming from any event returns exactly what came after it."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.channels.events import ChannelInfo
from nchat.realtime.cursor import Position
from nchat.realtime.events import EVENT_DATA
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

Json = dict[str, Any]

WRITERS = 7
SENDS = (15, 25)  # messages per writer, inclusive range
CHANNELS = 3
READERS = 4
INJECTORS = 3
INJECTED_TXS = 4  # transactions per injector
INJECTED_EVENTS = (1, 3)  # events per transaction
HOLD_S = (0.01, 0.12)
PAGE_LIMITS = (1, 7)
REWINDS = 6  # at most, per reader
DEADLINE_S = 25.0

INSERT = sa.text(
    "INSERT INTO nchat_events (type, channel_id, user_id, data) "
    "VALUES ('channel.updated', :c, :u, CAST(:d AS jsonb))"
)
XID = sa.text("SELECT pg_current_xact_id()::text::bigint")


async def changes(client: httpx.AsyncClient, user: MadeUser, since: str | None, limit: int) -> Json:
    params: Json = {"limit": limit}
    if since is not None:
        params["since"] = since
    r = await client.get("/api/sync/changes", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    page: Json = r.json()
    assert len(page["events"]) <= limit
    for event in page["events"]:
        EVENT_DATA[event["type"]].model_validate(event["data"])
    return page


async def current_xid(engine: AsyncEngine) -> int:
    """A transaction id newer than every transaction that has committed so far."""
    async with engine.begin() as conn:
        return int(await conn.scalar(XID))


async def cursor_after(client: httpx.AsyncClient, user: MadeUser, xid: int) -> str:
    """The current cursor once it is past transaction `xid` (and so past all before it)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        page = await changes(client, user, None, 1)
        if Position.decode(page["cursor"]).xid > xid:
            return str(page["cursor"])
        assert time.monotonic() < deadline, "the horizon did not move"
        await asyncio.sleep(0.01)


def key(event: Json) -> str:
    """What identifies an event's payload: a message id or an injected marker."""
    if event["type"] == "message.created":
        return str(event["data"]["id"])
    return str(event["data"]["topic"])


@dataclass
class Shared:
    """What the tasks of one run tell each other."""

    sent: dict[int, list[str]] = field(default_factory=dict)  # writer -> message ids, in order
    returned_at: dict[str, float] = field(default_factory=dict)  # message id -> when sent
    injected: dict[int, list[str]] = field(default_factory=dict)  # injector -> markers, in order
    # One per injected transaction: (xid, when it committed).
    injected_txs: list[tuple[int, float]] = field(default_factory=list)
    writers_left: int = WRITERS
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    # Set once every write has committed: a transaction id newer than all of them.
    final_xid: int | None = None

    def sent_past(self, count: int) -> bool:
        """More than `count` sends returned, or no writer is left to send."""
        return len(self.returned_at) > count or self.writers_left == 0


@dataclass
class Reader:
    """One client: a chain of reads, resumed now and then from a cursor it was given.

    `known` is the longest chain read so far; the current chain is always `known[:n]`, so
    every event read after a rewind must be the very event `known` has at that place."""

    user: MadeUser
    rng: random.Random
    known: list[Json] = field(default_factory=list)
    given: list[tuple[str, int]] = field(default_factory=list)  # (cursor, events before it)
    rewinds: int = 0
    pages: int = 0
    rewound_events: int = 0  # events read again after a rewind, each checked against known


async def read(client: httpx.AsyncClient, reader: Reader, start: str, shared: Shared) -> None:
    cursor, n = start, 0
    reader.given.append((start, 0))
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert time.monotonic() < deadline, f"{reader.user.username} stuck at {n} events"
        page = await changes(client, reader.user, cursor, reader.rng.randint(*PAGE_LIMITS))
        reader.pages += 1
        for event in page["events"]:
            if n < len(reader.known):
                assert event == reader.known[n], (reader.user.username, n)
                reader.rewound_events += 1
            else:
                reader.known.append(event)
            n += 1
            reader.given.append((event["id"], n))
        cursor = page["cursor"]
        reader.given.append((cursor, n))
        if reader.rewinds < REWINDS and reader.rng.random() < 0.12:
            cursor, n = reader.rng.choice(reader.given)
            reader.rewinds += 1
            continue
        final = shared.final_xid
        if final is not None and not page["has_more"] and Position.decode(cursor).xid > final:
            assert n == len(reader.known)
            return
        if not page["events"]:
            await asyncio.sleep(reader.rng.uniform(0, 0.01))


async def write(
    client: httpx.AsyncClient,
    writer: int,
    user: MadeUser,
    channels: list[Json],
    count: int,
    rng: random.Random,
    shared: Shared,
) -> None:
    """Sequential sends: each waits for the previous one to commit."""
    shared.sent[writer] = []
    for i in range(count):
        channel = rng.choice(channels)
        r = await client.post(
            "/api/messages",
            headers=user.headers,
            json={"channel_id": channel["id"], "text": f"writer {writer} message {i}"},
        )
        assert r.status_code == 201, r.text
        message_id = r.json()["id"]
        shared.sent[writer].append(message_id)
        shared.returned_at[message_id] = time.monotonic()
        async with shared.progress:
            shared.progress.notify_all()
        await asyncio.sleep(rng.uniform(0, 0.004))
    async with shared.progress:
        shared.writers_left -= 1
        shared.progress.notify_all()


async def inject(
    engine: AsyncEngine,
    injector: int,
    actor: MadeUser,
    channels: list[Json],
    rng: random.Random,
    shared: Shared,
) -> None:
    """Events written in transactions held open while the writers' transactions commit."""
    shared.injected[injector] = []
    for tx in range(INJECTED_TXS):
        async with engine.connect() as conn:
            transaction = await conn.begin()
            xid = int(await conn.scalar(XID))
            sent_before = len(shared.returned_at)
            for e in range(rng.randint(*INJECTED_EVENTS)):
                channel = rng.choice(channels)
                marker = f"injected {injector}.{tx}.{e}"
                data = {**{k: channel[k] for k in ChannelInfo.model_fields}, "topic": marker}
                await conn.execute(
                    INSERT, {"c": channel["id"], "u": str(actor.id), "d": json.dumps(data)}
                )
                shared.injected[injector].append(marker)
                await asyncio.sleep(rng.uniform(*HOLD_S))
            # Hold on until a send that started after this transaction has committed (while
            # there are sends left): this one then commits after a later transaction. Each
            # writer has one send in flight, so one more than WRITERS sends must include one.
            async with shared.progress:
                await shared.progress.wait_for(partial(shared.sent_past, sent_before + WRITERS))
            await transaction.commit()
            shared.injected_txs.append((xid, time.monotonic()))
        await asyncio.sleep(rng.uniform(0, 0.05))


async def drain(client: httpx.AsyncClient, user: MadeUser, since: str) -> list[Json]:
    """Everything after `since` (all of it final by now), in pages."""
    events: list[Json] = []
    cursor = since
    while True:
        page = await changes(client, user, cursor, 40)
        events += page["events"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return events


async def test_concurrent_writers_and_resuming_readers(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    users = [await make_user() for _ in range(WRITERS)]
    channels = [
        await api.create_channel(users[0], f"busy-{i}", members=tuple(users[1:]))
        for i in range(CHANNELS)
    ]
    # The readers all belong to every channel: they may see the very same events.
    readers = [Reader(users[i], random.Random(rng.random())) for i in range(READERS)]
    start = await cursor_after(client, users[0], await current_xid(engine))
    shared = Shared()

    async def writes() -> None:
        await asyncio.gather(
            *(
                write(client, w, users[w], channels, rng.randint(*SENDS), rng, shared)
                for w in range(WRITERS)
            ),
            *(inject(engine, j, users[0], channels, rng, shared) for j in range(INJECTORS)),
        )
        shared.final_xid = await current_xid(engine)

    await asyncio.gather(writes(), *(read(client, r, start, shared) for r in readers))

    context = f"seed {seed}"
    sent = [m for ids in shared.sent.values() for m in ids]
    injected = [marker for markers in shared.injected.values() for marker in markers]
    stream = readers[0].known
    # Exactly once: every message and every injected event, nothing else, no repeat.
    assert Counter(key(e) for e in stream) == Counter(sent + injected), context
    assert len({e["id"] for e in stream}) == len(stream), context
    assert {e["type"] for e in stream} <= {"message.created", "channel.updated"}
    # One order for everyone: each reader's chain is the same, event for event.
    for reader in readers[1:]:
        assert reader.known == stream, (context, reader.user.username)
    # The chains were really cut and resumed, and really read in small pieces.
    assert sum(r.rewound_events for r in readers) > 0, context
    assert all(r.pages > len(stream) // max(PAGE_LIMITS) for r in readers), context
    # A writer's sequential sends keep their order, overall and per channel.
    positions = {key(e): i for i, e in enumerate(stream)}
    for writer, ids in shared.sent.items():
        assert sorted(ids, key=positions.__getitem__) == ids, (context, writer)
    for markers in shared.injected.values():
        assert sorted(markers, key=positions.__getitem__) == markers, context
    # Transactions did commit out of order: an injected transaction committed after a
    # message whose transaction started later (a higher xid) had already been sent.
    xids = {key(e): Position.decode(e["id"]).xid for e in stream}
    assert any(
        xids[m] > xid and shared.returned_at[m] < committed_at
        for xid, committed_at in shared.injected_txs
        for m in sent
    ), context

    # Resuming from any event returns exactly the tail after it; from the start, everything.
    follower = users[READERS]  # a member of every channel who has not read yet
    assert await drain(client, follower, start) == stream, context
    for i in [*sorted(rng.sample(range(len(stream)), 12)), len(stream) - 1]:
        assert await drain(client, follower, stream[i]["id"]) == stream[i + 1 :], (context, i)
    # Every cursor a reader was given is a place in the one stream.
    for reader in readers:
        for cursor, n in rng.sample(reader.given, 8):
            tail = await drain(client, reader.user, cursor)
            assert tail == stream[n:], (context, reader.user.username, n)
