"""Search: messages, files. Results come only from channels the caller can read now, never
from deleted messages, and always show a message's current text (decision 0034)."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from nchat import cursors
from nchat.admin.service import get_config
from nchat.auth.deps import Principal
from nchat.channels.service import sees_public
from nchat.db.transaction import atomic
from nchat.errors import Forbidden, ValidationFailed
from nchat.files.service import record
from nchat.messages import repository as messages_repo
from nchat.messages.service import render_fields
from nchat.search import repository as repo
from nchat.search.query import Parsed, parse
from nchat.search.repository import START, STOP
from nchat.search.schemas import (
    FileHit,
    FileSearchQuery,
    FileSearchResults,
    SearchQuery,
    SearchResults,
)

# A text shown without a headline (no words to match) is cut to this many characters
# around its first match.
EXCERPT = 300


class _Row(NamedTuple):
    id: uuid.UUID
    rank: float


def _empty(parsed: Parsed) -> bool:
    """Nothing to search by: a query of only quotes or spaces."""
    return parsed == Parsed()


async def check_enabled(conn: AsyncConnection) -> None:
    if not (await get_config(conn))["features"]["search"]:
        raise Forbidden("Search is turned off on this server", code="search_disabled")


async def search_messages(
    conn: AsyncConnection, principal: Principal, query: SearchQuery
) -> SearchResults:
    await check_enabled(conn)
    if not query.q.strip():
        raise ValidationFailed("The query is empty", code="empty_query")
    parsed = parse(query.q)
    if _empty(parsed):
        return SearchResults(messages=[], next_cursor=None, estimated_total=0, total_capped=False)
    search = repo.build(parsed, principal.id, sees_public(principal))
    by_relevance = query.sort == "relevance" and search.rank_query is not None
    cursor = _decode(query.cursor) if query.cursor else None
    after = (cursor.rank, cursor.id) if cursor else None
    async with atomic(conn):
        await repo.plan_each_query(conn)
        found: list[Any] | None = None
        if not by_relevance and not search.narrow:
            recent = await repo.newest(conn, search, cursor.id if cursor else None)
            if len(recent.hits) > query.limit or recent.seen < repo.NEWEST:
                found = [_Row(hit, 0.0) for hit in recent.hits[: query.limit + 1]]
                # Later pages keep the first page's estimate: the newest below a cursor
                # say little about all the matches.
                total = cursor.total if cursor else recent.estimate()
        if found is None:
            counted = await repo.count(conn, search)
            total = len(counted)
            if total <= repo.COUNT_CAP:
                found = [
                    _Row(*row)
                    for row in await repo.page_of(
                        conn,
                        search,
                        counted,
                        by_relevance=by_relevance,
                        after=after,
                        limit=query.limit + 1,
                    )
                ]
            else:
                found = await repo.page(
                    conn, search, by_relevance=by_relevance, after=after, limit=query.limit + 1
                )
    more = len(found) > query.limit
    found = found[: query.limit]
    ids = [row.id for row in found]
    hits: list[dict[str, Any]] = []
    if ids:
        rows = await messages_repo.rows_by_id(conn, ids)
        fields = {f["id"]: f for f in await render_fields(conn, rows, principal)}
        headlines = await repo.headlines(conn, ids, search.rank_query)
        briefs = await repo.channel_briefs(conn, list({f["channel_id"] for f in fields.values()}))
        for message_id in ids:
            message = fields.get(message_id)
            if message is None or message_id not in headlines:
                continue  # hard-deleted since the page was read
            channel = briefs[message["channel_id"]]
            hits.append(
                {
                    **message,
                    "channel": {"id": channel.id, "name": channel.name, "type": channel.type},
                    "highlight": highlight(headlines[message_id], parsed),
                }
            )
    last = found[-1] if found else None
    return SearchResults.model_validate(
        {
            "messages": hits,
            "next_cursor": _encode(_Cursor(last.rank, last.id, min(total, repo.COUNT_CAP + 1)))
            if more and last is not None
            else None,
            "estimated_total": min(total, repo.COUNT_CAP),
            "total_capped": total > repo.COUNT_CAP,
        }
    )


def highlight(escaped: str, parsed: Parsed) -> str:
    """The HTML-escaped text with the matches in <mark>: those the word search marked, else
    the substrings and the prefix as typed."""
    if START not in escaped:
        needles = [*parsed.substrings, *([parsed.prefix] if parsed.prefix else [])]
        escaped = _mark(escaped, [html.escape(n, quote=False) for n in needles if n])
    first = escaped.find(START)
    if first > EXCERPT:
        cut = escaped.rfind(" ", 0, first - EXCERPT // 3)
        escaped = "…" + escaped[cut + 1 :]
    if len(escaped) > EXCERPT * 4:
        cut = escaped.rfind(" ", 0, EXCERPT * 4)
        escaped = escaped[: cut if cut > 0 else EXCERPT * 4] + "…"
    # Marks cut off by an excerpt are closed or dropped, so the HTML stays balanced.
    opened = 0
    out = []
    for char in escaped:
        if char == START:
            opened += 1
            out.append("<mark>")
        elif char == STOP:
            if opened:
                opened -= 1
                out.append("</mark>")
        else:
            out.append(char)
    out.extend("</mark>" * opened)
    return "".join(out)


def _mark(text: str, needles: list[str]) -> str:
    if not needles:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    return pattern.sub(lambda found: START + found.group(0) + STOP, text)


class _Cursor(NamedTuple):
    """Where the next page starts: the last (rank, id) shown; the estimated total."""

    rank: float
    id: uuid.UUID
    total: int


def _encode(cursor: _Cursor) -> str:
    return cursors.encode_text(f"{cursor.rank!r}:{cursor.id}:{cursor.total}")


def _decode(text: str) -> _Cursor:
    try:
        rank, message_id, total = cursors.decode_text(text).split(":")
        return _Cursor(float(rank), uuid.UUID(message_id), max(0, int(total)))
    except ValueError:
        raise cursors.invalid_cursor() from None


async def search_files(
    conn: AsyncConnection, principal: Principal, query: FileSearchQuery
) -> FileSearchResults:
    await check_enabled(conn)
    text = query.q.strip()
    if not text:
        raise ValidationFailed("The query is empty", code="empty_query")
    before = None
    if query.cursor:
        try:
            before = uuid.UUID(cursors.decode_text(query.cursor))
        except ValueError:
            raise cursors.invalid_cursor() from None
    rows = await repo.file_page(
        conn, text, principal.id, sees_public(principal), before=before, limit=query.limit + 1
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    hits = [
        FileHit.model_validate(
            {
                **record(r),
                "uploader_id": r["uploader_id"],
                "message_id": r["message_id"],
                "channel_id": r["channel_id"],
            }
        )
        for r in rows
    ]
    cursor = cursors.encode_text(str(rows[-1]["id"])) if more else None
    return FileSearchResults(files=hits, next_cursor=cursor)
