"""`search-peer`: the same corpus and the same search queries through nchat and through Matrix
Synapse, whose `/search` also runs on PostgreSQL's full-text search.

The corpus: N messages (100,000; 5,000 with `--quick`; `--messages N`) in C channels (500;
50 quick), one Synapse room each, from U authors (100; 20 quick), made in Python. Message i
has the text bench/seed.py's SQL gives message i of an N-message seed, to the character
(checked against that SQL on every run): "message <i> about the <topic> <subject> with some
**markdown** text, like people write", its topic and subject picked by PostgreSQL's
hashint8(i) (mirrored in Python) from 20 each, so each of those 40 words is in about 5% of
messages and a topic-subject pair in about 0.25%; exactly RARE_EACH messages (scattered by a
permutation of i) also end in one of the ten rare words. Message i is in channel i mod C, as
in the seed; its author is one of AUTHORS_PER_CHANNEL fixed authors of that channel (the
seed's formula would give most channels a single author), so every author writes about N/U
messages in C * AUTHORS_PER_CHANNEL / U channels. The searching user, user0, is in every
channel and writes nothing.

nchat: a fresh database (embedded PostgreSQL, or --database-url), the corpus inserted with
SQL (through the search trigger, as any writer; with the html bench/seed.py stores for these
texts where messages have that column), VACUUM ANALYZE, then `nchat serve` as the README
starts it (one worker). Synapse 1.163.2 (bench/synapse.py): a new database on the same
PostgreSQL server, users registered with the shared-secret API, user0 creating every room and
each author joining theirs, the corpus sent through the client API (PUT .../send/
m.room.message, SEND_CONCURRENCY in flight in message order, so across rooms: Synapse orders
each room's events one at a time), its background updates awaited before the load, and
VACUUM ANALYZE.

Then the shapes of bench/search.py, each sorted by recent and by relevance (Synapse:
`order_by` "rank"), are timed at the client over HTTP on 127.0.0.1 by one sequential client
per server, nchat and Synapse alternating request by request with the same queries: warm-ups,
then the samples. nchat: GET /api/search/messages?q=...&sort=...&limit=20; Synapse: POST
/_matrix/client/v3/search with a filter of limit 20 (and "senders" for `from:`). What each
server does with each shape is in SHAPES (`nchat`, `synapse`), and each response is checked
against the corpus: nchat's page must hold the corpus's matches (sorted by recent, the newest
of them in order; its estimated_total is an estimate, recorded only); Synapse's page and count
must be what its own semantics give (no prefix search, the sender filter applied after its
SQL), every hit a match. A shape that finds nothing where it must stops the run; any other
mismatch is printed and makes the exit code 1."""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import re
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import psutil
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bench import seed, server, synapse
from bench.common import cpu_share, fresh_database, percentiles, tree_cpu_seconds, write_results
from bench.search import COMMON, PREFIXES
from nchat.auth.passwords import hash_password_sync
from nchat.db.engine import libpq_url

console = Console(width=140)

SORTS = ("recent", "relevance")
SYNAPSE_ORDER = {"recent": "recent", "relevance": "rank"}
TARGET_RATIO = 5.0  # Synapse's p99 over nchat's, per shape and sort
LIMIT = 20
COUNT_CAP = 1000  # nchat counts matches up to this (estimated_total, total_capped)
AUTHORS_PER_CHANNEL = 5
SEND_CONCURRENCY = 16
SETUP_CONCURRENCY = 8
SEARCHER = "user0"
PASSWORD = server.PASSWORD
# Synapse's SQL filters by the user's rooms only for users in fewer rooms than this
# (synapse/storage/databases/main/search.py); from there on, every room's matches are read
# and the user's rooms kept in Python.
SYNAPSE_ROOM_LIST_BELOW = 500


@dataclass(frozen=True)
class Size:
    messages: int
    channels: int
    authors: int
    samples: int
    warmups: int


FULL = Size(messages=100_000, channels=500, authors=100, samples=200, warmups=20)
QUICK = Size(messages=5_000, channels=50, authors=20, samples=50, warmups=10)


# -- the corpus -----------------------------------------------------------------------------

_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def hashint8(value: int) -> int:
    """PostgreSQL's hashint8() as an unsigned 32-bit number (src/common/hashfn.c:
    hash_bytes_uint32 of the low half xor the high half, Bob Jenkins' final mix)."""
    lo, hi = value & _M32, (value >> 32) & _M32
    k = lo ^ (hi if value >= 0 else ~hi & _M32)
    a = b = c = (0x9E3779B9 + 4 + 3923095) & _M32
    a = (a + k) & _M32
    c ^= b
    c = (c - _rot(b, 14)) & _M32
    a ^= c
    a = (a - _rot(c, 11)) & _M32
    b ^= a
    b = (b - _rot(a, 25)) & _M32
    c ^= b
    c = (c - _rot(b, 16)) & _M32
    a ^= c
    a = (a - _rot(c, 4)) & _M32
    b ^= a
    b = (b - _rot(a, 14)) & _M32
    c ^= b
    return (c - _rot(b, 24)) & _M32


@dataclass(frozen=True)
class Message:
    i: int  # 1..N, also the order of sending
    channel: int  # 0..C-1
    author: int  # 1..U
    text: str
    words: tuple[str, ...]  # the vocabulary words in it: topic, subject, and a rare word


def channel_authors(channel: int, authors: int) -> list[int]:
    return [1 + (AUTHORS_PER_CHANNEL * channel + k) % authors for k in range(AUTHORS_PER_CHANNEL)]


def corpus(size: Size) -> list[Message]:
    """bench/seed.py's message texts for an N-message seed, in Python."""
    n, nt, ns = size.messages, len(seed.TOPICS), len(seed.SUBJECTS)
    rare_total = len(seed.RARE_WORDS) * seed.RARE_EACH
    out = []
    for i in range(1, n + 1):
        h = hashint8(i) & 0x7FFFFFFF
        topic, subject = seed.TOPICS[h % nt], seed.SUBJECTS[(h // nt) % ns]
        r = (i * seed.SCATTER) % n
        rare = seed.RARE_WORDS[r // seed.RARE_EACH] if r < rare_total else None
        text = (
            f"message {i} about the {topic} {subject} with some **markdown** text, "
            f"like people write{' ' + rare if rare else ''}"
        )
        channel = i % size.channels
        author = channel_authors(channel, size.authors)[(i // size.channels) % AUTHORS_PER_CHANNEL]
        out.append(Message(i, channel, author, text, (topic, subject, *([rare] if rare else []))))
    return out


# The text expression of bench/seed.py's message INSERT, to check the Python texts against.
SEED_TEXTS = """
SELECT i, 'message ' || i || ' about the ' || ({TOPICS})[1 + h % {NT}] || ' '
          || ({SUBJECTS})[1 + (h / {NT}) % {NS}]
          || ' with some **markdown** text, like people write'
          || CASE WHEN r < {NR} * {RE} THEN ' ' || ({RARE})[1 + r / {RE}] ELSE '' END AS text
FROM generate_series(1::bigint, {M}) AS i,
     LATERAL (SELECT hashint8(i)::bigint & 2147483647 AS h, (i * {SCATTER}) % {M} AS r) AS x
ORDER BY i
"""


class Index:
    """Which messages hold each vocabulary word, and which each author wrote."""

    def __init__(self, messages: list[Message]) -> None:
        self.by_word: dict[str, set[int]] = {}
        self.by_author: dict[int, set[int]] = {}
        for m in messages:
            for word in m.words:
                self.by_word.setdefault(word, set()).add(m.i)
            self.by_author.setdefault(m.author, set()).add(m.i)

    def having(self, *words: str) -> AbstractSet[int]:
        """The messages holding every one of `words` (the index's own set for one word)."""
        found = [self.by_word.get(w, set()) for w in words]
        if len(found) == 1:
            return found[0]
        return set.intersection(*found) if found else set()


# -- the shapes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    nchat: str  # nchat's q (bench/search.py's form: non-prefix queries end with a space)
    term: str  # Synapse's search_term
    sender: int | None  # Synapse's filter "senders": the author of `from:`
    ids: AbstractSet[int]  # the corpus's matches: message numbers
    # What Synapse's semantics give (see SHAPES): its count, and its page (None: at most
    # min(matches, LIMIT), as its sender filter keeps what it keeps).
    synapse_count: int
    synapse_page: int | None

    @property
    def matches(self) -> int:
        return len(self.ids)


Make = Callable[[random.Random, Size, Index], Query]


def _rare(rng: random.Random, size: Size, index: Index) -> Query:
    word = rng.choice(seed.RARE_WORDS)
    ids = index.having(word)
    return Query(f"{word} ", word, None, ids, len(ids), min(len(ids), LIMIT))


def _common(rng: random.Random, size: Size, index: Index) -> Query:
    word = rng.choice(COMMON)
    ids = index.having(word)
    return Query(f"{word} ", word, None, ids, len(ids), min(len(ids), LIMIT))


def _two_words(rng: random.Random, size: Size, index: Index) -> Query:
    subject, topic = rng.choice(seed.SUBJECTS), rng.choice(seed.TOPICS)
    ids = index.having(subject, topic)
    term = f"{subject} {topic}"
    return Query(f"{term} ", term, None, ids, len(ids), min(len(ids), LIMIT))


def _phrase(rng: random.Random, size: Size, index: Index) -> Query:
    # Every text reads "the <topic> <subject>": the pair in that order is the phrase.
    topic, subject = rng.choice(seed.TOPICS), rng.choice(seed.SUBJECTS)
    ids = index.having(topic, subject)
    term = f'"{topic} {subject}"'
    return Query(f"{term} ", term, None, ids, len(ids), min(len(ids), LIMIT))


def _from_user(rng: random.Random, size: Size, index: Index) -> Query:
    author, word = rng.randint(1, size.authors), rng.choice(COMMON)
    ids = index.having(word) & index.by_author[author]
    # Synapse counts the word's matches before its sender filter.
    return Query(f"from:@user{author} {word} ", word, author, ids, len(index.having(word)), None)


def _prefix(rng: random.Random, size: Size, index: Index) -> Query:
    prefix = rng.choice(PREFIXES)
    topic = next(t for t in seed.TOPICS if t.startswith(prefix))
    # Synapse looks the three letters up as a whole word, which no message has.
    exact = len(index.having(prefix))
    return Query(prefix, prefix, None, index.having(topic), exact, min(exact, LIMIT))


@dataclass(frozen=True)
class Shape:
    what: str
    make: Make
    nchat: str  # what nchat does with it
    synapse: str  # what Synapse 1.163.2 on PostgreSQL does with it
    same_results: bool  # both servers return the corpus's matches


SHAPES: dict[str, Shape] = {
    "rare_word": Shape(
        f"one of {len(seed.RARE_WORDS)} rare words, {seed.RARE_EACH} messages each",
        _rare,
        "plainto_tsquery: one lexeme",
        "websearch_to_tsquery('english'): one lexeme",
        True,
    ),
    "common_word": Shape(
        f"one of {len(COMMON)} words, each in about 5% of messages",
        _common,
        "plainto_tsquery: one lexeme",
        "websearch_to_tsquery('english'): one lexeme",
        True,
    ),
    "two_words": Shape(
        "a subject and a topic, about 0.25% of messages",
        _two_words,
        "plainto_tsquery: both lexemes (&)",
        "websearch_to_tsquery: both lexemes (&)",
        True,
    ),
    "phrase": Shape(
        'a quoted "topic subject", about 0.25% of messages',
        _phrase,
        "phraseto_tsquery: 'topic' <-> 'subject'",
        "websearch_to_tsquery on the quoted term: 'topic' <-> 'subject' (Synapse's own "
        "query parser, _tokenize_query, is for SQLite only)",
        True,
    ),
    "from_user_word": Shape(
        "from:@userN and a 5% word, about N/U/20 messages",
        _from_user,
        "the author in the SQL's WHERE: every match of the author is found",
        'the word in SQL; filter "senders" applied in Python to what the SQL returned '
        "(recent: up to 5 rounds of the 40 newest matches; rank: the 500 best ranked), so "
        "the author's matches beyond those are missed; its count is the word's, before the "
        "filter",
        False,
    ),
    "prefix_3": Shape(
        "three letters of a topic being typed, about 5% of messages",
        _prefix,
        "to_tsquery('abc:*'): the word's prefix",
        "websearch_to_tsquery('english', 'abc'): an exact lexeme 'abc', no prefix search "
        "(websearch_to_tsquery has no prefix operator), so no results",
        False,
    ),
}


# -- loading nchat --------------------------------------------------------------------------

B = seed.BASE_MS
NCHAT_USERS = f"""
INSERT INTO nchat_users (id, username, email, display_name, password_hash, role)
SELECT pg_temp.u7({B} + u, 'u' || u), 'user' || u, 'user' || u || '@example.com',
       'User ' || u, $1, 'member'
FROM generate_series(0, $2::int) AS u
"""
NCHAT_SETUP = """UPDATE nchat_app_config SET setup = '{"completed": true}'"""
NCHAT_CHANNELS = f"""
INSERT INTO nchat_channels (id, type, name, created_by)
SELECT pg_temp.u7({B} + c, 'c' || c), 'public', 'ch-' || c, pg_temp.u7({B}, 'u0')
FROM generate_series(0, $1::int - 1) AS c
"""
NCHAT_MEMBERS = f"""
INSERT INTO nchat_channel_members (channel_id, user_id)
SELECT pg_temp.u7({B} + c, 'c' || c), pg_temp.u7({B} + u, 'u' || u)
FROM unnest($1::int[], $2::int[]) AS x(c, u)
"""
NCHAT_MEMBER_COUNTS = """
UPDATE nchat_channels AS c SET member_count =
  (SELECT count(*) FROM nchat_channel_members AS m WHERE m.channel_id = c.id)
"""
# Ids and times as bench/seed.py makes them: message i at BASE_MS + 10 i.
NCHAT_MESSAGES = f"""
INSERT INTO nchat_messages (id, channel_id, user_id, text, created_at)
SELECT pg_temp.u7({B} + i * 10, 'm' || i), pg_temp.u7({B} + c, 'c' || c),
       pg_temp.u7({B} + a, 'u' || a), t, to_timestamp(({B} + i * 10) / 1000.0)
FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[]) AS x(i, c, a, t)
"""
# Where messages store their rendered html (as a send does), the html bench/seed.py writes
# for these texts, so reads render nothing a real server's rows would not have.
NCHAT_MESSAGES_HTML = f"""
INSERT INTO nchat_messages (id, channel_id, user_id, text, html, created_at)
SELECT pg_temp.u7({B} + i * 10, 'm' || i), pg_temp.u7({B} + c, 'c' || c),
       pg_temp.u7({B} + a, 'u' || a), t,
       '<p>' || replace(t, '**markdown**', '<strong>markdown</strong>') || '</p>',
       to_timestamp(({B} + i * 10) / 1000.0)
FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[]) AS x(i, c, a, t)
"""
HAS_HTML = """
SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'nchat_messages' AND column_name = 'html')
"""
BATCH = 10_000


def _members(size: Size) -> list[tuple[int, int]]:
    """(channel, user): user0 in every channel, each author in their channels."""
    pairs = {(c, 0) for c in range(size.channels)}
    for c in range(size.channels):
        pairs.update((c, a) for a in channel_authors(c, size.authors))
    return sorted(pairs)


async def _load_nchat(url: str, size: Size, messages: list[Message]) -> bool:
    """Loads the corpus; whether the rows were written with their html."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await _check_mirror(conn, messages)
        await conn.execute(seed.UUID7)
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(NCHAT_USERS, hash_password_sync(PASSWORD), size.authors)
        await conn.execute(NCHAT_SETUP)
        await conn.execute(NCHAT_CHANNELS, size.channels)
        members = _members(size)
        await conn.execute(NCHAT_MEMBERS, [c for c, _ in members], [u for _, u in members])
        await conn.execute(NCHAT_MEMBER_COUNTS)
        html = bool(await conn.fetchval(HAS_HTML))
        for start in range(0, len(messages), BATCH):
            batch = messages[start : start + BATCH]
            await conn.execute(
                NCHAT_MESSAGES_HTML if html else NCHAT_MESSAGES,
                [m.i for m in batch],
                [m.channel for m in batch],
                [m.author for m in batch],
                [m.text for m in batch],
            )
        await conn.execute("VACUUM ANALYZE")
        return html
    finally:
        await conn.close()


async def _check_mirror(conn: asyncpg.Connection, messages: list[Message]) -> None:
    """The Python texts are bench/seed.py's SQL texts, every one of them."""
    words = seed._words()
    sql = SEED_TEXTS.format(**words, M=len(messages))
    rows = await conn.fetch(sql)
    differ = [
        (m.i, m.text, r["text"]) for m, r in zip(messages, rows, strict=True) if m.text != r["text"]
    ]
    if differ:
        raise RuntimeError(f"{len(differ)} texts differ from bench/seed.py's, e.g. {differ[0]}")


# -- loading Synapse ------------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


async def _each(
    items: list[Any],
    work: Callable[[Any], Any],
    concurrency: int,
    progress: Progress,
    description: str,
) -> float:
    """`work` on every item, `concurrency` at a time, taken in order; its seconds."""
    task = progress.add_task(description, total=len(items), rate="")
    it: Iterator[Any] = iter(items)
    started = time.perf_counter()
    done = 0

    async def worker() -> None:
        nonlocal done
        for item in it:
            await work(item)
            done += 1
            elapsed = time.perf_counter() - started
            progress.update(task, advance=1, rate=f"{done / elapsed:.0f}/s" if elapsed else "")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    progress.remove_task(task)
    return time.perf_counter() - started


async def _load_synapse(
    hs: synapse.Homeserver, size: Size, messages: list[Message]
) -> tuple[dict[str, Any], str]:
    """(load figures, user0's token)."""
    out: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=SEND_CONCURRENCY, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=hs.base, timeout=120, limits=limits) as client:
        with _progress() as progress:
            tokens: dict[int, str] = {}

            async def register(u: int) -> None:
                tokens[u] = (await synapse.register(client, hs.secret, f"user{u}"))["access_token"]

            users = list(range(size.authors + 1))
            out["register_s"] = await _each(
                users, register, SETUP_CONCURRENCY, progress, "Synapse: users"
            )
            rooms: dict[int, str] = {}

            async def create(c: int) -> None:
                rooms[c] = await synapse.create_room(client, tokens[0], f"ch-{c}")

            out["rooms_s"] = await _each(
                list(range(size.channels)), create, SETUP_CONCURRENCY, progress, "Synapse: rooms"
            )

            async def join(pair: tuple[int, int]) -> None:
                await synapse.join_room(client, tokens[pair[1]], rooms[pair[0]])

            joins = [(c, u) for c, u in _members(size) if u != 0]
            out["joins"] = len(joins)
            out["joins_s"] = await _each(
                joins, join, SETUP_CONCURRENCY, progress, "Synapse: authors join"
            )

            async def send(m: Message) -> None:
                room = quote(rooms[m.channel], safe="")
                r = await client.put(
                    f"/_matrix/client/v3/rooms/{room}/send/m.room.message/peer-{m.i}",
                    headers={"Authorization": f"Bearer {tokens[m.author]}"},
                    json={"msgtype": "m.text", "body": m.text},
                )
                if r.status_code != 200:
                    raise RuntimeError(f"Synapse send {m.i}: {r.status_code} {r.text[:300]}")

            process = psutil.Process(hs.pid)
            cpu_before = tree_cpu_seconds(process)
            seconds = await _each(messages, send, SEND_CONCURRENCY, progress, "Synapse: messages")
            # Synapse is one process: a core, 1 / cores of the machine, is all it can take.
            out["messages_synapse_cpu_share"] = cpu_share(
                tree_cpu_seconds(process) - cpu_before, seconds
            )
    out["messages_s"] = round(seconds, 1)
    out["messages_per_s"] = round(len(messages) / seconds, 1)
    out["send_concurrency"] = SEND_CONCURRENCY
    for key in ("register_s", "rooms_s", "joins_s"):
        out[key] = round(out[key], 1)
    return out, tokens[0]


SYNAPSE_FACTS = """
SELECT (SELECT count(*) FROM event_search WHERE key = 'content.body') AS bodies,
       (SELECT count(*) FROM background_updates) AS background_updates,
       (SELECT count(*) FROM local_current_membership
        WHERE user_id = $1 AND membership = 'join') AS searcher_rooms,
       pg_size_pretty(pg_total_relation_size('event_search')) AS event_search_size
"""


BACKGROUND_LIMIT_S = 600.0
BACKGROUND_STALL_S = 120.0


async def _background_updates(db_url: str) -> tuple[float, int]:
    """Waits for Synapse's background updates (schema migrations a fresh database runs one
    by one, about a minute's worth) to finish: (seconds waited, updates left). Gives up after
    BACKGROUND_LIMIT_S, or BACKGROUND_STALL_S without progress (Synapse stops running them
    after five failures in a row)."""
    conn = await asyncpg.connect(db_url)
    try:
        started = last_progress = time.perf_counter()
        left = await conn.fetchval("SELECT count(*) FROM background_updates")
        while left:
            now = time.perf_counter()
            if now - started > BACKGROUND_LIMIT_S or now - last_progress > BACKGROUND_STALL_S:
                break
            await asyncio.sleep(1)
            before, left = left, await conn.fetchval("SELECT count(*) FROM background_updates")
            if left < before:
                last_progress = time.perf_counter()
        return time.perf_counter() - started, int(left)
    finally:
        await conn.close()


def _log_errors(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(line for line in lines if " ERROR " in line)[-3000:]


async def _settle_synapse(db_url: str, searcher: str) -> dict[str, Any]:
    """After the load: VACUUM ANALYZE, and what Synapse holds."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("VACUUM ANALYZE")
        return dict(await conn.fetchrow(SYNAPSE_FACTS, searcher) or {})
    finally:
        await conn.close()


async def _tsqueries(url: str, terms: dict[str, str]) -> dict[str, str]:
    """What PostgreSQL makes of each Synapse term: Synapse passes it to
    websearch_to_tsquery('english', ...) as it is."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return {
            shape: await conn.fetchval("SELECT websearch_to_tsquery('english', $1)::text", term)
            for shape, term in terms.items()
        }
    finally:
        await conn.close()


# -- timing ---------------------------------------------------------------------------------


class Clients:
    """One sequential client per server, each on its own kept-alive connection."""

    def __init__(self, nchat_base: str, nchat_token: str, syn_base: str, syn_token: str) -> None:
        self.nchat = httpx.Client(
            base_url=nchat_base, headers={"Authorization": f"Bearer {nchat_token}"}, timeout=120
        )
        self.synapse = httpx.Client(
            base_url=syn_base, headers={"Authorization": f"Bearer {syn_token}"}, timeout=120
        )

    def close(self) -> None:
        self.nchat.close()
        self.synapse.close()

    def search_nchat(self, query: Query, sort: str) -> Answer:
        params = {"q": query.nchat, "sort": sort, "limit": str(LIMIT)}
        start = time.perf_counter()
        r = self.nchat.get("/api/search/messages", params=params)
        ms = (time.perf_counter() - start) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"nchat search {query.nchat!r}: {r.status_code} {r.text[:300]}")
        body = r.json()
        hits = [_number(m["text"]) for m in body["messages"]]
        return Answer(ms, hits, body["estimated_total"])

    def search_synapse(self, query: Query, sort: str) -> Answer:
        room_filter: dict[str, Any] = {"limit": LIMIT}
        if query.sender is not None:
            room_filter["senders"] = [f"@user{query.sender}:{synapse.SERVER_NAME}"]
        body = {
            "search_categories": {
                "room_events": {
                    "search_term": query.term,
                    "order_by": SYNAPSE_ORDER[sort],
                    "filter": room_filter,
                }
            }
        }
        start = time.perf_counter()
        r = self.synapse.post("/_matrix/client/v3/search", json=body)
        ms = (time.perf_counter() - start) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"Synapse search {query.term!r}: {r.status_code} {r.text[:300]}")
        found = r.json()["search_categories"]["room_events"]
        hits = [_number(hit["result"]["content"]["body"]) for hit in found["results"]]
        return Answer(ms, hits, int(found.get("count") or 0))


_NUMBER = re.compile(r"message (\d+) ")


def _number(text: str | None) -> int:
    """The corpus's number of a message from its text (0 for a text not of the corpus)."""
    found = _NUMBER.match(text or "")
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class Answer:
    ms: float
    hits: list[int]  # the page's messages, by number
    total: int  # nchat's estimated_total, Synapse's count


@dataclass
class Tally:
    """What one server returned for one shape and sort."""

    ms: list[float] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    totals_off: list[float] = field(default_factory=list)  # |total - corpus| / corpus
    mismatches: list[str] = field(default_factory=list)

    def add(self, answer: Answer, query: Query, problem: str | None) -> None:
        self.ms.append(answer.ms)
        self.pages.append(len(answer.hits))
        want = min(query.matches, COUNT_CAP)
        self.totals_off.append(abs(answer.total - want) / want if want else float(answer.total))
        if problem:
            self.mismatches.append(problem)

    def summary(self, matches: list[int]) -> dict[str, Any]:
        return {
            **percentiles(self.ms),
            "page_mean": round(sum(self.pages) / len(self.pages), 1),
            "page_min": min(self.pages),
            "corpus_matches_mean": round(sum(matches) / len(matches), 1),
            "total_off_max": round(max(self.totals_off), 3),
            "mismatches": len(self.mismatches),
            "mismatch_examples": self.mismatches[:3],
        }


def _check_nchat(query: Query, sort: str, answer: Answer) -> str | None:
    """The page holds min(matches, LIMIT) of the corpus's matches, and sorted by recent it
    is the newest of them, in order. (Its estimated_total is only recorded: an estimate.)"""
    hits, want = answer.hits, min(query.matches, LIMIT)
    if len(hits) != want:
        return f"{query.nchat!r} {sort}: {len(hits)} hits, corpus {want}"
    if stray := [i for i in hits if i not in query.ids]:
        return f"{query.nchat!r} {sort}: messages {stray[:5]} do not match"
    if sort == "recent" and hits != heapq.nlargest(LIMIT, query.ids):
        return f"{query.nchat!r} recent: {hits[:5]}... are not the newest matches"
    return None


def _check_synapse(query: Query, answer: Answer) -> str | None:
    """Its count and page as its semantics give them, every hit a corpus match."""
    page = len(answer.hits)
    if query.synapse_page is None:
        ok_page = page <= min(query.matches, LIMIT)
        want = f"<= {min(query.matches, LIMIT)}"
    else:
        ok_page = page == query.synapse_page
        want = str(query.synapse_page)
    if answer.total != query.synapse_count or not ok_page:
        return (
            f"{query.term!r} sender {query.sender}: {page} hits, count {answer.total}; "
            f"expected {want} hits, count {query.synapse_count}"
        )
    if stray := [i for i in answer.hits if i not in query.ids]:
        return f"{query.term!r} sender {query.sender}: messages {stray[:5]} do not match"
    return None


def _first_check(clients: Clients, shape: str, query: Query, sort: str) -> dict[str, Any]:
    """One query of the shape through both servers before timing it: a server that finds
    nothing where it must stops the run here."""
    mine, theirs = clients.search_nchat(query, sort), clients.search_synapse(query, sort)
    if query.matches and not mine.hits:
        raise RuntimeError(f"nchat found nothing for {shape} {query.nchat!r} ({sort})")
    if SHAPES[shape].same_results and query.matches and not theirs.hits:
        raise RuntimeError(f"Synapse found nothing for {shape} {query.term!r} ({sort})")
    return {
        "query": query.nchat,
        "synapse_term": query.term,
        "corpus_matches": query.matches,
        "nchat_page": len(mine.hits),
        "nchat_estimated_total": mine.total,
        "synapse_page": len(theirs.hits),
        "synapse_count": theirs.total,
    }


def _measure(clients: Clients, size: Size, index: Index) -> dict[str, Any]:
    shapes: dict[str, Any] = {}
    with Progress(console=console, transient=True) as progress:
        for name, shape in SHAPES.items():
            out: dict[str, Any] = {
                "what": shape.what,
                "nchat": shape.nchat,
                "synapse": shape.synapse,
                "same_results": shape.same_results,
            }
            for sort in SORTS:
                rng = random.Random(f"{name}/{sort}")
                queries = [shape.make(rng, size, index) for _ in range(size.warmups + size.samples)]
                out.setdefault("first", {})[sort] = _first_check(clients, name, queries[0], sort)
                task = progress.add_task(f"{name} {sort}", total=len(queries))
                mine, theirs = Tally(), Tally()
                for k, query in enumerate(queries):
                    answer = clients.search_nchat(query, sort)
                    other = clients.search_synapse(query, sort)
                    progress.advance(task)
                    if k >= size.warmups:
                        mine.add(answer, query, _check_nchat(query, sort, answer))
                        theirs.add(other, query, _check_synapse(query, other))
                progress.remove_task(task)
                matches = [q.matches for q in queries[size.warmups :]]
                n, s = mine.summary(matches), theirs.summary(matches)
                out[sort] = {
                    "nchat_ms": n,
                    "synapse_ms": s,
                    "p99_ratio": round(s["p99_ms"] / n["p99_ms"], 2),
                    "p50_ratio": round(s["p50_ms"] / n["p50_ms"], 2),
                }
            shapes[name] = out
    return shapes


# -- results --------------------------------------------------------------------------------


def _targets(shapes: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, out in shapes.items():
        for sort in SORTS:
            ratio = out[sort]["p99_ratio"]
            rows.append(
                {
                    "what": f"search-peer {name}, sort={sort}: Synapse p99 / nchat p99",
                    "value": ratio,
                    "target": f">= {TARGET_RATIO:g}",
                    "met": ratio >= TARGET_RATIO,
                    "same_results": out["same_results"],
                }
            )
    return rows


def _print(results: dict[str, Any]) -> None:
    table = Table(
        "shape",
        "sort",
        "n",
        "nchat p50 / p99",
        "Synapse p50 / p99",
        "p99 ratio",
        ">= 5x",
        "hits nchat / Synapse",
        "matches",
        "checks",
        title="search through both servers: ms at the client, hits per page (mean), "
        "the corpus's matches per query (mean)",
    )
    for name, out in results["shapes"].items():
        for sort in SORTS:
            r = out[sort]
            n, s = r["nchat_ms"], r["synapse_ms"]
            bad = n["mismatches"] + s["mismatches"]
            table.add_row(
                name,
                sort,
                str(n["n"]),
                f"{n['p50_ms']:.1f} / {n['p99_ms']:.1f}",
                f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f}",
                f"{r['p99_ratio']:.1f}x",
                ("yes" if r["p99_ratio"] >= TARGET_RATIO else "NO")
                + ("" if out["same_results"] else " *"),
                f"{n['page_mean']:g} / {s['page_mean']:g}",
                f"{n['corpus_matches_mean']:g}",
                "ok" if not bad else f"{bad} MISMATCHED",
            )
    console.print(table)
    console.print("* the servers do not return the same results. What each does with each shape:")
    tsq = results["synapse_tsqueries"]
    for name, out in results["shapes"].items():
        console.print(
            f"  {name}: nchat: {out['nchat']}. Synapse: {out['synapse']} "
            f"(e.g. {out['first']['recent']['synapse_term']!r} -> {tsq[name]})",
            soft_wrap=True,
            highlight=False,
        )
    load, facts = results["load"], results["synapse_facts"]
    syn = load["synapse"]
    size = results["size"]
    console.print(
        f"corpus: {size['messages']:,} messages in {size['channels']} channels/rooms from "
        f"{size['authors']} authors; user0 in {facts['searcher_rooms']} rooms "
        f"({results['synapse_room_filter']}).",
        highlight=False,
    )
    console.print(
        f"load: nchat (SQL) {load['nchat_s']:.1f} s; Synapse: users {syn['register_s']} s, "
        f"rooms {syn['rooms_s']} s, {syn['joins']} joins {syn['joins_s']} s, messages "
        f"{syn['messages_s']} s = {syn['messages_per_s']:.0f} messages/s "
        f"({syn['send_concurrency']} in flight, Synapse at "
        f"{syn['messages_synapse_cpu_share']:.0%} of the machine); its background updates: "
        f"{load['synapse_background_updates_s']} s before the load, "
        f"{facts['background_updates']} left after it; event_search "
        f"{facts['event_search_size']}",
        highlight=False,
    )
    for name, out in results["shapes"].items():
        for sort in SORTS:
            for server_name in ("nchat_ms", "synapse_ms"):
                for example in out[sort][server_name]["mismatch_examples"]:
                    console.print(
                        f"[red]mismatch[/red] {name} {sort} {server_name[:-3]}: {example}",
                        soft_wrap=True,
                        highlight=False,
                    )


def main(args: argparse.Namespace) -> int:
    if getattr(args, "no_peer", False):
        console.print("search-peer is the comparison with Synapse: --no-peer leaves nothing")
        return 2
    base = QUICK if args.quick else FULL
    size = Size(
        messages=getattr(args, "messages", None) or base.messages,
        channels=base.channels,
        authors=base.authors,
        samples=base.samples,
        warmups=base.warmups,
    )
    if size.messages < seed.RARE_EACH * len(seed.RARE_WORDS) or size.messages % seed.SCATTER == 0:
        raise SystemExit(f"--messages {size.messages}: too few, or a multiple of {seed.SCATTER}")
    started = time.perf_counter()
    messages = corpus(size)
    index = Index(messages)
    results: dict[str, Any] = {"size": size.__dict__, "limit": LIMIT}
    results["corpus"] = {
        "authors_per_channel": AUTHORS_PER_CHANNEL,
        "word_counts": {w: len(index.having(w)) for w in (*seed.RARE_WORDS, *COMMON)},
        "prefixes": PREFIXES,
    }
    with fresh_database(args.database_url) as url:
        console.print(
            f"nchat: loading {size.messages:,} messages in {size.channels} channels "
            f"from {size.authors} authors ..."
        )
        begun = time.perf_counter()
        html = asyncio.run(_load_nchat(url, size, messages))
        load: dict[str, Any] = {
            "nchat_s": round(time.perf_counter() - begun, 1),
            "nchat_html": html,
        }
        console.print(f"  ... in {load['nchat_s']} s; Synapse {synapse.SYNAPSE_VERSION} ...")
        with synapse.homeserver("postgresql", pg_url=url) as hs:
            assert hs.database_url is not None
            # A fresh Synapse first runs its schema's background updates, as any server has
            # long before it holds this much: loading meanwhile can leave them stuck.
            waited, left = asyncio.run(_background_updates(hs.database_url))
            if left:
                raise RuntimeError(
                    f"Synapse's background updates: {left} left after {waited:.0f} s\n"
                    + _log_errors(hs.log)
                )
            load["synapse_background_updates_s"] = round(waited, 1)
            load["synapse"], syn_token = asyncio.run(_load_synapse(hs, size, messages))
            console.print(
                f"  ... loaded into Synapse at {load['synapse']['messages_per_s']:.0f} messages/s"
            )
            waited, left = asyncio.run(_background_updates(hs.database_url))
            searcher = f"@{SEARCHER}:{synapse.SERVER_NAME}"
            results["synapse_facts"] = asyncio.run(_settle_synapse(hs.database_url, searcher))
            results["synapse_facts"]["background_updates_after_load_waited_s"] = round(waited, 1)
            if left:
                console.print(
                    f"[red]Synapse's background updates: {left} left after the load[/red]\n"
                    + _log_errors(hs.log),
                    highlight=False,
                )
            if results["synapse_facts"]["bodies"] != size.messages:
                raise RuntimeError(f"Synapse indexed {results['synapse_facts']['bodies']} bodies")
            rooms = results["synapse_facts"]["searcher_rooms"]
            results["synapse_room_filter"] = (
                "Synapse's SQL filters by the room list"
                if rooms < SYNAPSE_ROOM_LIST_BELOW
                else "at 500 rooms or more Synapse's SQL reads every room's matches and "
                "keeps the user's in Python"
            )
            with server.running(url, workers=1) as nodes:
                base_url = nodes[0].base
                signin = httpx.post(
                    f"{base_url}/api/auth/signin",
                    json={"login": SEARCHER, "password": PASSWORD},
                    timeout=30,
                )
                signin.raise_for_status()
                clients = Clients(base_url, signin.json()["access_token"], hs.base, syn_token)
                try:
                    console.print(
                        f"timing {len(SHAPES)} shapes x {len(SORTS)} sorts: "
                        f"{size.warmups} warm-ups and {size.samples} samples each, "
                        "the two servers alternating"
                    )
                    results["shapes"] = _measure(clients, size, index)
                finally:
                    clients.close()
        terms = {
            name: out["first"]["recent"]["synapse_term"] for name, out in results["shapes"].items()
        }
        results["synapse_tsqueries"] = asyncio.run(_tsqueries(url, terms))
    results["load"] = load
    results["synapse_version"] = synapse.SYNAPSE_VERSION
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = _targets(results["shapes"])
    _print(results)
    console.print(f"run took {results['seconds']:.0f} s")
    console.print(f"results written to {write_results('search-peer', results, args.output)}")
    mismatched = sum(
        out[sort][side]["mismatches"]
        for out in results["shapes"].values()
        for sort in SORTS
        for side in ("nchat_ms", "synapse_ms")
    )
    return 1 if mismatched else 0
