"""All SQL of search: the message query a parsed query becomes, and the file query.

Words go through PostgreSQL's full-text search (`nchat_messages.search`, a GIN index; the
`nchat_search` configuration stems and folds accents); substrings and the prefix being typed
also through the trigram index on the text. Every query is limited to channels the caller
can read now, and to messages not deleted."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db import like
from nchat.search.query import Parsed
from nchat.tables.channels import channel_members, channels
from nchat.tables.files import files
from nchat.tables.messages import bookmarks, mentions, messages, pinned_messages, reactions
from nchat.tables.users import users

CONFIG: Any = sa.literal_column("'nchat_search'::regconfig")
# Marks around matched words in a headline: private-use characters, taken out of the text
# first, so they cannot be forged; the service turns them into <mark> after escaping.
START, STOP = "\ue000", "\ue001"
# One excerpt: a short text whole, a long one cut around its best match.
_HEADLINE_OPTIONS = f"StartSel={START}, StopSel={STOP}, MaxWords=60, MinWords=25"
_LINK = r"https?://"
# How many matches are counted for the estimate; beyond it the total is "at least".
COUNT_CAP = 1000

m = messages.c


def _words_query(parsed: Parsed) -> Any | None:
    """The tsquery every match must satisfy, or None when the query has no words."""
    parts: list[Any] = []
    if parsed.words:
        parts.append(sa.func.plainto_tsquery(CONFIG, " ".join(parsed.words)))
    parts.extend(sa.func.phraseto_tsquery(CONFIG, phrase) for phrase in parsed.phrases)
    parts.extend(
        sa.func.tsquery_not(sa.func.plainto_tsquery(CONFIG, word)) for word in parsed.excluded
    )
    parts.extend(
        sa.func.tsquery_not(sa.func.phraseto_tsquery(CONFIG, phrase))
        for phrase in parsed.excluded_phrases
    )
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = sa.func.tsquery_and(combined, part)
    return combined


def _prefix_query(prefix: str) -> Any | None:
    """`prefix:*` of the word being typed (letters and digits only: nothing of it can be
    tsquery syntax), or None when nothing is left."""
    clean = re.sub(r"[^\w]|_", "", prefix)
    if not clean:
        return None
    return sa.func.to_tsquery(CONFIG, sa.literal(f"{clean}:*", sa.Text))


def _day(value: Any) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class MessageSearch:
    """A parsed query for one caller: its conditions on message rows, and what ranks them."""

    parsed: Parsed
    me: uuid.UUID
    see_public: bool
    rank_query: Any | None  # the tsquery a relevance sort and the headline use

    def where(self, rows: sa.FromClause = messages) -> list[Any]:
        """The conditions on `rows`: `nchat_messages` itself, or a subquery of its rows."""
        return _conditions(self.parsed, self.me, self.see_public, rows.c)

    @property
    def narrow(self) -> bool:
        """Limited to some authors or conversations: their share of the newest messages is
        small, so looking through those first rarely finds a page and costs what a count
        from the indexes does."""
        return bool(self.parsed.from_users or self.parsed.in_channels or self.parsed.in_dms)


def _readable(channel_id: Any, me: uuid.UUID, see_public: bool) -> Any:
    """The channel is one the caller can read now: theirs, or public for roles that see it."""
    cm = channel_members.c
    readable: Any = channel_id.in_(sa.select(cm.channel_id).where(cm.user_id == me))
    if see_public:
        public = sa.select(channels.c.id).where(channels.c.type == "public")
        readable = sa.or_(readable, channel_id.in_(public))
    return readable


def build(parsed: Parsed, me: uuid.UUID, see_public: bool) -> MessageSearch:
    rank_query = _words_query(parsed)
    prefix = _prefix_query(parsed.prefix) if parsed.prefix is not None else None
    if prefix is not None:
        rank_query = prefix if rank_query is None else sa.func.tsquery_and(rank_query, prefix)
    return MessageSearch(parsed, me, see_public, rank_query)


def _conditions(parsed: Parsed, me: uuid.UUID, see_public: bool, c: Any) -> list[Any]:
    where: list[Any] = [c.deleted_at.is_(None), _readable(c.channel_id, me, see_public)]
    words = _words_query(parsed)
    if words is not None:
        where.append(c.search.op("@@")(words))
    if parsed.prefix is not None:
        prefix = _prefix_query(parsed.prefix)
        # Trigrams catch a prefix the stemmer cut differently ("deployi" of "deploying"); for
        # three letters the word index's prefix match suffices, and costs one bitmap, not two.
        typed = [c.text.ilike(like.contains(parsed.prefix))] if len(parsed.prefix) >= 4 else []
        if prefix is not None:
            typed.append(c.search.op("@@")(prefix))
        if typed:
            where.append(sa.or_(*typed))
    where.extend(c.text.ilike(like.contains(text)) for text in parsed.substrings)
    where.extend(_operators(parsed, me, c))
    return where


def _operators(parsed: Parsed, me: uuid.UUID, c: Any) -> list[Any]:
    where: list[Any] = []
    for username in parsed.from_users:
        author = sa.select(users.c.id).where(sa.func.lower(users.c.username) == username.lower())
        where.append(c.user_id.in_(author))
    for name in parsed.in_channels:
        named = sa.select(channels.c.id).where(sa.func.lower(channels.c.name) == name.lower())
        where.append(c.channel_id.in_(named))
    for username in parsed.in_dms:
        where.append(c.channel_id.in_(_dm_with(me, username)))
    if "file" in parsed.has:
        where.append(c.files != sa.literal_column("'[]'::jsonb"))
    if "image" in parsed.has:
        where.append(
            sa.func.jsonb_path_exists(
                c.files, sa.literal_column("""'$[*] ? (@.content_type starts with "image/")'""")
            )
        )
    if "link" in parsed.has:
        where.append(c.text.op("~*")(_LINK))
    if "reaction" in parsed.has:
        where.append(sa.exists().where(reactions.c.message_id == c.id))
    if "pinned" in parsed.is_:
        where.append(sa.exists().where(pinned_messages.c.message_id == c.id))
    if "thread" in parsed.is_:
        where.append(sa.or_(c.thread_id.isnot(None), c.reply_count > 0))
    if "saved" in parsed.is_:
        saved = bookmarks.c
        where.append(sa.exists().where(saved.message_id == c.id, saved.user_id == me))
    if parsed.mentions_me:
        where.append(sa.exists().where(mentions.c.message_id == c.id, mentions.c.user_id == me))
    if parsed.before is not None:
        where.append(c.created_at < _day(parsed.before))
    if parsed.after is not None:
        where.append(c.created_at >= _day(parsed.after) + timedelta(days=1))
    if parsed.on is not None:
        start = _day(parsed.on)
        where.append(c.created_at >= start)
        where.append(c.created_at < start + timedelta(days=1))
    return where


def _dm_with(me: uuid.UUID, username: str) -> Any:
    """The 1:1 DM between the caller and `username`."""
    mine, theirs = channel_members.alias("mine"), channel_members.alias("theirs")
    other = sa.select(users.c.id).where(sa.func.lower(users.c.username) == username.lower())
    return (
        sa.select(mine.c.channel_id)
        .join(theirs, theirs.c.channel_id == mine.c.channel_id)
        .join(channels, channels.c.id == mine.c.channel_id)
        .where(
            mine.c.user_id == me,
            theirs.c.user_id.in_(other),
            channels.c.type == "direct",
        )
    )


# With more matches than this, relevance ranks only the newest this many of them: ranking
# every one of tens of thousands costs more than a search may (decision 0034).
RANKED = 1000


async def plan_each_query(conn: AsyncConnection) -> None:
    """Plan search statements for their own words, never with a cached generic plan: the
    same statement text serves a word in five messages and one in fifty thousand, and the
    plans for those differ by a hundred times. For the caller's transaction only."""
    await conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


# A search sorted by recent first looks through this many of the newest messages: a word or
# prefix in more than about 1% of them fills a page there, for the cost of reading them
# (about 2 ms), where counting its matches from the index would cost ten times that.
NEWEST = 2000


@dataclass(frozen=True)
class Newest:
    """The matches among the newest messages (below a cursor)."""

    seen: int  # messages looked through: fewer than NEWEST when there are no more
    hits: list[uuid.UUID]  # the matches among them, newest first
    messages: float  # PostgreSQL's estimate of all messages, for extrapolating

    def estimate(self) -> int:
        """Matches in all messages (read without a cursor): extrapolated from these, exact
        when there were no more to see."""
        if self.seen < NEWEST:
            return len(self.hits)
        return round(len(self.hits) * max(self.messages, self.seen) / self.seen)


async def newest(conn: AsyncConnection, search: MessageSearch, before: uuid.UUID | None) -> Newest:
    rows = sa.select(messages).order_by(m.id.desc()).limit(NEWEST)
    if before is not None:
        rows = rows.where(m.id < before)
    # LIMIT keeps the conditions out of the subquery: its rows are read by the primary key.
    recent = rows.subquery("recent")
    ordered = aggregate_order_by(recent.c.id, recent.c.id.desc())
    messages_estimate: Any = sa.literal_column(
        "(SELECT reltuples FROM pg_class WHERE oid = 'nchat_messages'::regclass)"
    )
    query = sa.select(
        sa.func.count(),
        sa.func.array_agg(ordered).filter(sa.and_(*search.where(recent))),
        messages_estimate,
    ).select_from(recent)
    seen, hits, estimate = (await conn.execute(query)).one()
    return Newest(int(seen), list(hits or []), float(estimate or 0))


async def page(
    conn: AsyncConnection,
    search: MessageSearch,
    *,
    by_relevance: bool,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """(id, rank) of one page of matches, best first, when there are more than COUNT_CAP;
    `after`: the last (rank, id) seen. The newest messages are walked backwards by id until a
    page of matches is found (cheap when they are frequent); by relevance, the newest RANKED
    matches are ranked."""
    ranked = by_relevance and search.rank_query is not None
    if not ranked:
        unranked = sa.literal(0.0, sa.Float).label("rank")
        query = sa.select(m.id, unranked).where(*search.where())
        if after is not None:
            query = query.where(m.id < after[1])
        return list((await conn.execute(query.order_by(m.id.desc()).limit(limit))).all())
    inner = sa.select(m.id, m.search).where(*search.where())
    matches = inner.order_by(m.id.desc()).limit(RANKED).subquery("matches")
    rank = sa.func.ts_rank_cd(matches.c.search, search.rank_query).label("rank")
    scored = sa.select(matches.c.id, rank).select_from(matches).subquery("scored")
    query = sa.select(scored.c.id, scored.c.rank)
    if after is not None:
        query = query.where(sa.tuple_(scored.c.rank, scored.c.id) < sa.tuple_(after[0], after[1]))
    query = query.order_by(scored.c.rank.desc(), scored.c.id.desc())
    return list((await conn.execute(query.limit(limit))).all())


async def page_of(
    conn: AsyncConnection,
    search: MessageSearch,
    ids: list[uuid.UUID],
    *,
    by_relevance: bool,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> list[tuple[uuid.UUID, float]]:
    """One page of the matches `count` found (all of them), best first: sorted here, ranked
    by their primary keys. Searching the indexes again for them would cost what the count
    did (an author's or a conversation's messages, read and checked for the words)."""
    if by_relevance and search.rank_query is not None:
        rank = sa.func.ts_rank_cd(m.search, search.rank_query)
        rows = await conn.execute(sa.select(m.id, rank).where(m.id.in_(ids)))
        scored = [(float(r), i) for i, r in rows]
    else:
        scored = [(0.0, i) for i in ids]
    scored.sort(reverse=True)
    if after is not None:
        scored = [row for row in scored if row < after]
    return [(i, r) for r, i in scored[:limit]]


async def headlines(
    conn: AsyncConnection, ids: list[uuid.UUID], rank_query: Any | None
) -> dict[uuid.UUID, str]:
    """Each message's text, HTML-escaped, with its matches between START and STOP (excerpted
    when long). Escaped before the headline is made: ts_headline drops what looks like
    tags, and a message's text must show as it was written."""
    clean: Any = sa.func.translate(m.text, START + STOP, "")
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        clean = sa.func.replace(clean, raw, entity)
    shown: Any = clean
    if rank_query is not None:
        shown = sa.func.ts_headline(CONFIG, clean, rank_query, _HEADLINE_OPTIONS)
    query = sa.select(m.id, shown).where(m.id.in_(ids))
    return {row[0]: row[1] for row in await conn.execute(query)}


# Both plain scans switched together, for the transaction: one round trip each way.
_PLAIN_SCANS = sa.text(
    "SELECT set_config('enable_indexscan', :on, true), set_config('enable_seqscan', :on, true)"
)


async def count(conn: AsyncConnection, search: MessageSearch) -> list[uuid.UUID]:
    """The ids of the matches, up to COUNT_CAP + 1 of them, from the indexes' bitmaps: a
    scan of the table or of the ids could stop early only when matches are frequent, and
    would read every row for a rare word. For the caller's transaction, plain scans are
    switched off while it counts."""
    capped = sa.select(m.id).where(*search.where()).limit(COUNT_CAP + 1)
    await conn.execute(_PLAIN_SCANS, {"on": "off"})
    try:
        return list((await conn.scalars(capped)).all())
    finally:
        await conn.execute(_PLAIN_SCANS, {"on": "on"})


async def channel_briefs(
    conn: AsyncConnection, channel_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    c = channels.c
    query = sa.select(c.id, c.name, c.type).where(c.id.in_(channel_ids))
    return {row.id: row for row in await conn.execute(query)}


async def file_page(
    conn: AsyncConnection,
    q: str,
    me: uuid.UUID,
    see_public: bool,
    *,
    before: uuid.UUID | None,
    limit: int,
) -> list[Any]:
    """Files whose name (accents folded) or type contains `q`, on messages the caller can
    read, and the caller's own uploads not attached yet; newest first."""
    f = files.c
    visible = sa.or_(
        sa.and_(f.message_id.is_(None), f.uploader_id == me),
        sa.and_(_readable(f.channel_id, me, see_public), messages.c.deleted_at.is_(None)),
    )
    pattern = like.contains(q)
    matches = sa.or_(
        sa.func.unaccent(sa.func.lower(f.name)).like(sa.func.unaccent(pattern)),
        sa.func.lower(f.content_type).like(pattern),
    )
    query = (
        sa.select(files)
        .select_from(files.outerjoin(messages, messages.c.id == f.message_id))
        .where(visible, matches)
        .order_by(f.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(f.id < before)
    return list((await conn.execute(query)).mappings())
