"""What a written text carries beside itself: the mentions it makes (whom they notify) and its
HTML, from one lookup of the names in it. And the HTML of rows written before it was stored:
rendered when read, filled by housekeeping (decision 0035)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.messages import render
from nchat.messages import repository as repo
from nchat.messages.render import Parsed, Refs

# Texts longer than this (a batch's together) are rendered in a worker thread. The parser
# takes up to ~17 µs a character on texts made to be slow (thousands of brackets or bare
# links): 40,000 of them hold the interpreter for most of a second, which the event loop, and
# every socket it serves, would otherwise wait for in one piece. A thread shares it.
OFF_LOOP_CHARS = 1_000
# Rows filled per transaction, and how long one housekeeping round goes on filling.
FILL_BATCH = 500
FILL_BUDGET_S = 60.0

Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


@dataclass(frozen=True)
class Content:
    mentions: dict[str, Any]  # the message's `mentions` JSON
    notified: list[uuid.UUID]  # the members whose mention count it raises
    html: str


async def resolve(
    conn: AsyncConnection, channel_id: uuid.UUID, text: str, author: Principal
) -> Content:
    """The mentions and the HTML of a text the author writes in this channel. Users mentioned
    by name who are members are notified, and every user who exists is shown as a mention;
    `#names` link the channels the author can see. Names in code, links or escapes are
    neither (render.parse), so an edit that puts a name in code takes its mention back."""
    (read,) = await _parse([text])
    parsed = read.mentions
    found = await repo.names(
        conn,
        usernames=list(parsed.usernames),
        channel_names=list(read.channel_names),
        authors=[author.id],
        channel_id=channel_id,
    )
    user_ids = [
        found.users[n][0] for n in parsed.usernames if n in found.users and found.users[n][1]
    ]
    notified = set(user_ids)
    if parsed.channel:
        notified |= set(await repo.member_ids(conn, channel_id))
    elif parsed.here:
        notified |= set(await repo.member_ids(conn, channel_id, present_only=True))
    notified.discard(author.id)
    payload = {
        "user_ids": [str(u) for u in user_ids],
        "channel": parsed.channel,
        "here": parsed.here,
    }
    (html,) = await _render([(read, _refs(found, author.id, author.role))])
    return Content(payload, sorted(notified), html)


def _refs(found: repo.Names, author: uuid.UUID, role: str) -> Refs:
    public = rbac.has_permission(role, "channel:read_public")  # as channels.sees_public
    return Refs(
        users={name: user_id for name, (user_id, _) in found.users.items()},
        channels={
            name: channel_id
            for name, (channel_id, is_public, members) in found.channels.items()
            if author in members or (is_public and public)
        },
    )


async def _parse(texts: list[str]) -> list[Parsed]:
    if sum(map(len, texts)) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(_parse_all, texts)
    return _parse_all(texts)


def _parse_all(texts: list[str]) -> list[Parsed]:
    return [render.parse(text) for text in texts]


async def _render(items: list[tuple[Parsed, Refs]]) -> list[str]:
    if sum(len(parsed.text) for parsed, _ in items) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(_render_all, items)
    return _render_all(items)


def _render_all(items: list[tuple[Parsed, Refs]]) -> list[str]:
    return [render.html(parsed, refs) for parsed, refs in items]


# -- rows written before html was stored ----------------------------------------------------


async def html_of(conn: AsyncConnection, rows: Sequence[RowMapping]) -> dict[uuid.UUID, str]:
    """The HTML of these rows (id, text, user_id, author_role) as a send would write it now,
    with one lookup for the names of them all."""
    if not rows:
        return {}
    parsed = await _parse([row["text"] for row in rows])
    usernames: set[str] = set()
    channel_names: set[str] = set()
    for read in parsed:
        usernames.update(read.mentions.usernames)
        channel_names.update(read.channel_names)
    found = await repo.names(
        conn,
        usernames=sorted(usernames),
        channel_names=sorted(channel_names),
        authors=sorted({row["user_id"] for row in rows}),
    )
    items = [
        (read, _refs(found, row["user_id"], row["author_role"]))
        for row, read in zip(rows, parsed, strict=True)
    ]
    rendered = await _render(items)
    return {row["id"]: html for row, html in zip(rows, rendered, strict=True)}


async def fill_missing_html(
    transaction: Transaction, *, batch: int = FILL_BATCH, budget_s: float = FILL_BUDGET_S
) -> int:
    """Stores the HTML of rows written without it, a batch per transaction, until none are
    left or the round's time is spent; how many it filled. Rows another process is filling
    are skipped, so every process may run it at once."""
    filled = 0
    deadline = time.monotonic() + budget_s
    while True:
        async with transaction() as conn:
            rows = await repo.without_html(conn, batch)
            await repo.set_html(conn, await html_of(conn, rows))
        filled += len(rows)
        if len(rows) < batch or time.monotonic() >= deadline:
            return filled
