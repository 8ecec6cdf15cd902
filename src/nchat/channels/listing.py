"""The channel list, with what a process keeps for it (decisions 0022, 0023).

A REST list on a connection that sees only committed rows reads the caller's own fields in
one statement (`repository.list_own`) and takes the rest from the process's copies
(`ListCopies`): each channel's shared fields by row version (`shared_fields.py`) and its
newest root messages, from which the unread count and the newest message's time are counted
(`recent_roots.py`). Where the copies lack something, the list reads again in a read-only
REPEATABLE READ transaction and reads what is missing there, so that everything it returns
comes from one snapshot. Without the copies (GraphQL, sync), or inside a transaction, which
could see its own uncommitted rows, the list reads every field in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.appstate import Key
from nchat.channels import repository as repo
from nchat.channels.recent_roots import OldMarkers, RecentRoots, View
from nchat.channels.repository import Counted, ListFilters, OwnRow
from nchat.channels.shared_fields import SharedFields
from nchat.db import driver
from nchat.db.driver import is_autocommit
from nchat.tables.channels import DM_TYPES


@dataclass(slots=True)
class ListCopies:
    """What a process keeps for its REST channel lists: the channels' shared fields by row
    version (decision 0022), the newest root messages per channel, and the users' channels
    whose read markers were far behind those (decision 0023)."""

    shared: SharedFields = field(default_factory=SharedFields)
    roots: RecentRoots = field(default_factory=RecentRoots)
    old_markers: OldMarkers = field(default_factory=OldMarkers)


LIST_COPIES: Key[ListCopies] = Key("list_copies")


async def list_channels(
    conn: AsyncConnection, filters: ListFilters, *, copies: ListCopies | None = None
) -> list[dict[str, Any]]:
    """Listed channels as dicts of repository.LISTED_FIELDS. With `copies`, on a connection
    that sees only committed rows, PostgreSQL reads the caller's own fields and the rest
    comes from the copies, all as of one snapshot."""
    if copies is None or not is_autocommit(conn):
        return await repo.list_fields(conn, filters)
    # Most lists are this one statement: everything else comes from the copies, as of its
    # snapshot, or from PostgreSQL's counts in it for the channels where the caller's marker
    # was far behind the copy at their last list.
    caller = str(filters.me)
    count_here = copies.old_markers.get(caller)
    base = copies.roots.base()
    rows, changes = await repo.list_own(conn, filters, count_here=count_here, base=base)
    if changes is None:
        return []
    view = copies.roots.apply(base, changes)
    listed = _listed_from_copies(view, rows, caller, copies)
    if listed is not None:
        return listed
    # Some channel's messages or fields must be read too: every read in one snapshot. The
    # statement counts the channels the first one found far behind.
    count_here = copies.old_markers.get(caller)
    async with driver.transaction(conn, isolation="repeatable_read", readonly=True):
        base = copies.roots.base()
        rows, changes = await repo.list_own(conn, filters, count_here=count_here, base=base)
        if changes is None:
            return []
        view = copies.roots.apply(base, changes)
        return await _listed_reading_the_rest(conn, view, rows, filters, copies)


def _unread_counts(
    view: View, rows: Sequence[OwnRow], caller: str, old_markers: OldMarkers
) -> dict[str, Counted]:
    """Each listed channel's (unread count, newest message time): PostgreSQL's where the
    statement counted, else from the copy of recent root messages where it holds the channel
    and the member's read marker is not older than it holds. Remembers, for the caller's
    next list, the channels whose marker is far behind what the copy holds."""
    tips = view.tips
    counts: dict[str, Counted] = {}
    old = []
    for row in rows:
        channel_id = row.id
        tip = tips.get(channel_id)
        counted: Counted | None = row.counted
        if tip is not None:
            if row.is_member and tip.far_behind(row.last_read_id):
                old.append(channel_id)
            if counted is None:
                counted = (
                    tip.counts(row.last_read_id, caller) if row.is_member else (None, tip.newest())
                )
        if counted is not None:
            counts[channel_id] = counted
    old_markers.remember(caller, old)
    return counts


def _listed_from_copies(
    view: View, rows: Sequence[OwnRow], caller: str, copies: ListCopies
) -> list[dict[str, Any]] | None:
    """The listed channels, or None if the copies lack something."""
    counts = _unread_counts(view, rows, caller, copies.old_markers)
    if len(counts) < len(rows):
        return None
    shared = copies.shared
    found = [shared.get(row.id, row.version) for row in rows]
    if None in found:
        return None
    return _listed(rows, counts, found)


async def _listed_reading_the_rest(
    conn: AsyncConnection,
    view: View,
    rows: Sequence[OwnRow],
    filters: ListFilters,
    copies: ListCopies,
) -> list[dict[str, Any]]:
    """The listed channels, reading in the rows' snapshot what the copies lack: channels'
    recent messages, PostgreSQL's counts for read markers older than those, shared fields."""
    missing = view.lacks([row.id for row in rows])
    if missing:
        await view.load(conn, missing)
    counts = _unread_counts(view, rows, str(filters.me), copies.old_markers)
    left = [row.id for row in rows if row.id not in counts]
    if left:
        counts.update(await repo.counted_of(conn, filters.me, left))
    shared = copies.shared
    found = [shared.get(row.id, row.version) for row in rows]
    unknown = [row.id for row, fields in zip(rows, found, strict=True) if fields is None]
    if unknown:
        fresh = {}
        for read in await repo.shared_of(conn, unknown):
            fresh[read.id] = read.shared()
            shared.remember(read.id, read.version, fresh[read.id])
        # In one snapshot with the rows: every listed channel is there, at the same version.
        found = [fields or fresh[row.id] for row, fields in zip(rows, found, strict=True)]
    return _listed(rows, counts, found)


def _listed(
    rows: Sequence[OwnRow],
    counts: dict[str, Counted],
    found: Sequence[dict[str, Any] | None],
) -> list[dict[str, Any]]:
    listed = []
    for row, fields in zip(rows, found, strict=True):
        channel_id = row.id
        item = {"id": channel_id, **(fields or {})}
        unread, newest = counts[channel_id]
        # In repository.OWN_FIELDS order: the JSON's keys come in the model's order.
        item["is_member"] = row.is_member
        item["channel_role"] = row.channel_role
        item["unread_count"] = unread
        # A DM's every unread message is addressed to the reader: each counts as a mention,
        # as the SQL view counts it (repository._view_query) and the push badge does.
        dm = row.is_member and item.get("type") in DM_TYPES
        item["mention_count"] = unread if dm else row.mention_count
        item["last_read_id"] = row.last_read_id
        item["last_message_at"] = newest
        listed.append(item)
    return listed
