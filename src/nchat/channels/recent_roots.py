"""The channel list's copy of each listed channel's newest root messages, per process, so that
a list counts unread messages without one index probe per channel (decision 0023).

`listing.py` runs the list and holds the copies together (`ListCopies`); this module is one
of them, with the SQL that belongs to it: CHANGES (a part of the list's own statement in
`repository.py`), the reads that load channels into the copy, and the housekeeping of the
change rows it reads.

The copy holds, per channel, the newest live root messages (ids, authors, times) as of one
snapshot of the database. The list's statement also reads (CHANGES) which channels' root
messages changed between the copy's snapshot and its own: the `nchat_root_changes` rows,
written by triggers for every writer, of transactions the copy's snapshot did not see. Those
channels are forgotten, and the same statement reads the newest messages of up to LOAD_LIMIT
of them back; when the copy still lacks a listed channel, the list reads again in a
REPEATABLE READ transaction and loads it there. Everything a list counts from is therefore
exactly what its own snapshot holds. The copy is replaced, never changed in place: a request
counts from the version it started with, and installs a newer one only if no other request
has installed one since it started."""

from __future__ import annotations

import itertools
import sys
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db.driver import DriverStatement

# Root messages kept per channel: a member whose read marker is older than the oldest of them
# is counted by PostgreSQL instead.
DEPTH = 20
# A member's marker among the oldest this many messages a tip holds is counted by PostgreSQL
# (OldMarkers) before the tip can no longer count it: a list that found out after its
# statement would read again.
NEAR = 3
MAX_CHANNELS = 10_000
# More changed rows than this since the copy's snapshot: start again rather than read them.
MAX_CHANGES = 1_000
# Changed channels whose messages the list's own statement reads back; a listed channel past
# these is read after it, in the same snapshot.
LOAD_LIMIT = 200

_SINCE = "CAST(CAST(:since AS text) AS pg_snapshot)"
# The newest live root messages of the channels in `ids`, one row per message with the
# newest time from it on (as Tip.newest_from); a channel with none has one row of NULLs.
_NEWEST_ROOTS = """
    SELECT c.id AS channel, r.id AS message, r.user_id, r.newest_from
    FROM {ids} AS c(id)
    LEFT JOIN LATERAL (
        SELECT id, user_id,
               max(created_at) OVER (ORDER BY id DESC ROWS UNBOUNDED PRECEDING) AS newest_from
        FROM (
            SELECT id, user_id, created_at FROM nchat_messages
            WHERE channel_id = c.id AND thread_id IS NULL AND deleted_at IS NULL
            ORDER BY id DESC LIMIT :depth
        ) AS newest
    ) AS r ON true
"""
# By the uuids themselves (qualified: unqualified, ORDER BY would take the text columns of
# the same names, in the database's collation): the copy's ids are in this order.
_IN_ORDER = "ORDER BY newest_roots.channel, newest_roots.message"
# _NEWEST_ROOTS's columns as Tips are made from, each in an array of its own (NewestRoots):
# one row, whatever the number of messages.
_LOADED = ", ".join(
    f"array_agg({column} {_IN_ORDER}) AS loaded_{name}"
    for name, column in (
        ("channels", "channel::text"),
        ("messages", "message::text"),
        ("users", "user_id::text"),
        ("newest_from", "newest_from"),
    )
)
_TO_LOAD = "(SELECT DISTINCT channel_id FROM changed LIMIT :load_limit)"
# Which channels changed since the copy's snapshot (`since`), as the statement's own snapshot
# sees it, and the newest root messages of up to LOAD_LIMIT of them (_LOADED): read once by
# the list's statement, so everything is read in one snapshot. A few messages between two
# lists therefore cost that statement a few index probes, not a second read. Its columns are
# Changes.
CHANGES = (
    sa.text(
        f"""
        WITH changed AS MATERIALIZED (
            SELECT channel_id FROM nchat_root_changes
            WHERE xid >= (pg_snapshot_xmin({_SINCE})::text)::bigint
              AND NOT pg_visible_in_snapshot((xid::text)::xid8, {_SINCE})
            LIMIT :changes_limit
        )
        SELECT pg_current_snapshot()::text AS snapshot,
               (SELECT through_xid FROM nchat_root_changes_pruned)
                   >= (pg_snapshot_xmin({_SINCE})::text)::bigint AS stale,
               ARRAY(SELECT channel_id::text FROM changed) AS changed,
               loaded.*
        FROM (
            SELECT {_LOADED} FROM ({_NEWEST_ROOTS.format(ids=_TO_LOAD)}) AS newest_roots
        ) AS loaded
        """
    )
    .columns(
        sa.column("snapshot"),
        sa.column("stale"),
        sa.column("changed"),
        sa.column("loaded_channels"),
        sa.column("loaded_messages"),
        sa.column("loaded_users"),
        sa.column("loaded_newest_from"),
    )
    .cte("changes")
)
_LOAD = DriverStatement(
    sa.text(
        f"""
        SELECT {_LOADED}
        FROM ({_NEWEST_ROOTS.format(ids="unnest(CAST(:ids AS uuid[]))")}) AS newest_roots
        """
    ).columns(
        sa.column("loaded_channels"),
        sa.column("loaded_messages"),
        sa.column("loaded_users"),
        sa.column("loaded_newest_from"),
    )
)


class NewestRoots(NamedTuple):
    """The newest live root messages of some channels, as _LOADED reads them: a column each,
    in channel then message order, a channel with none as one message of NULLs."""

    channels: list[str]
    messages: list[Any]  # str, or None for a channel with none
    users: list[Any]
    newest_from: list[Any]  # datetime


class Changes(NamedTuple):
    """What CHANGES read: the statement's snapshot, whether the copy is older than what
    housekeeping removed (NULL when the copy has no snapshot yet or nothing was removed),
    the channels changed since the copy's snapshot, and the newest messages of up to
    LOAD_LIMIT of them (NULLs when none changed)."""

    snapshot: str
    stale: bool | None
    changed: list[str]
    loaded_channels: list[str] | None
    loaded_messages: list[Any] | None
    loaded_users: list[Any] | None
    loaded_newest_from: list[Any] | None

    def loaded(self) -> NewestRoots:
        return NewestRoots(
            self.loaded_channels or [],
            self.loaded_messages or [],
            self.loaded_users or [],
            self.loaded_newest_from or [],
        )


@dataclass(frozen=True, slots=True)
class Tip:
    """A channel's newest live root messages, oldest first; `complete`: all of them.
    `newest_from[i]`: the newest time among the messages from the i-th on (ids are
    time-ordered, but times are the writing transactions' and need not follow them)."""

    ids: tuple[str, ...]
    users: tuple[str, ...]
    newest_from: tuple[datetime, ...]
    complete: bool

    def counts(self, marker: str | None, me: str) -> tuple[int, datetime | None] | None:
        """A member's (unread count, newest message time), as the list's SQL counts them:
        unread are the messages past the marker by others; the newest time is the newest
        among those from the marker on, or else the newest message's. None when the marker
        is older than what the tip holds."""
        ids = self.ids
        mark = marker or ""
        if not self.complete and mark < ids[0]:
            return None
        start = bisect_left(ids, mark)
        if start == len(ids):
            return 0, self.newest()
        # Slices and count() rather than a loop: this runs for every channel of a list.
        unread = self.users[start + 1 if ids[start] == mark else start :]
        return len(unread) - unread.count(me), self.newest_from[start]

    def far_behind(self, marker: str | None) -> bool:
        """Whether a member's marker is older than the tip holds, or within NEAR messages of
        that: a few more messages and the tip could not count it."""
        return not self.complete and (marker or "") < self.ids[NEAR]

    def newest(self) -> datetime | None:
        """The newest message's time (the one with the greatest id)."""
        return self.newest_from[-1] if self.newest_from else None


@dataclass(frozen=True, slots=True)
class Base:
    """The copy as a request found it before its first statement."""

    version: int
    snapshot: str | None
    tips: dict[str, Tip]

    def params(self) -> dict[str, Any]:
        """The CHANGES parameters."""
        return {
            "since": self.snapshot,
            "changes_limit": MAX_CHANGES + 1,
            "load_limit": LOAD_LIMIT,
            "depth": DEPTH,
        }


class View:
    """One request's copy, as its statement's snapshot sees it."""

    def __init__(self, roots: RecentRoots, version: int, tips: dict[str, Tip]) -> None:
        self._roots = roots
        self._version = version
        self.tips = tips

    def lacks(self, channel_ids: list[str]) -> list[str]:
        return [i for i in channel_ids if i not in self.tips]

    async def load(self, conn: AsyncConnection, channel_ids: list[str]) -> None:
        """Loads these channels, in the snapshot the view was made in (the connection's
        REPEATABLE READ transaction)."""
        self.tips = {**self.tips, **await _load(conn, channel_ids)}
        self._version = self._roots.install(self._version, None, self.tips)


class RecentRoots:
    def __init__(self, *, max_channels: int = MAX_CHANNELS) -> None:
        self._max = max_channels
        self._version = 0
        self._snapshot: str | None = None
        self._tips: dict[str, Tip] = {}

    def channels(self) -> set[str]:
        """The channels the copy holds now."""
        return set(self._tips)

    def base(self) -> Base:
        """Taken before the statement that reads CHANGES with its parameters: every
        snapshot taken after this sees all the copy's snapshot saw."""
        return Base(self._version, self._snapshot, self._tips)

    def apply(self, base: Base, changes: Changes) -> View:
        """The copy as of the changes' snapshot, from what CHANGES read against `base`."""
        tips = base.tips
        changed = changes.changed
        if base.snapshot is None or changes.stale or len(changed) > MAX_CHANGES:
            tips = {}
        elif changed:
            tips = dict(tips)
            for channel_id in changed:
                tips.pop(channel_id, None)
        if changes.loaded_channels:  # some of `changed`, so `tips` is this request's own
            tips.update(_tips(changes.loaded()))
        return View(self, self.install(base.version, changes.snapshot, tips), tips)

    def install(self, version: int, snapshot: str | None, tips: dict[str, Tip]) -> int:
        """Makes `tips` (as of `snapshot`, or of the copy's own) the copy, unless another
        request has installed one since `version`; returns the version to install against
        next (one nobody has, when this one lost)."""
        if version != self._version:
            return -1
        if len(tips) > self._max:
            tips = dict(itertools.islice(tips.items(), len(tips) - self._max, None))
        self._version += 1
        if snapshot is not None:
            self._snapshot = snapshot
        self._tips = tips
        return self._version


class OldMarkers:
    """Per user (the latest MAX_USERS), the channels where their read marker was far behind
    (Tip.far_behind) at their last list: their next list has PostgreSQL count those in its
    own statement rather than find out after it and read again. A hint only: a channel
    counted in SQL needlessly is still counted right, and one it misses is read again."""

    MAX_USERS = 10_000

    def __init__(self) -> None:
        self._by_user: dict[str, list[str]] = {}

    def get(self, user: str) -> list[str]:
        return self._by_user.get(user, [])

    def remember(self, user: str, channel_ids: list[str]) -> None:
        self._by_user.pop(user, None)
        if channel_ids:
            # Interned: many users' lists name the same channels.
            self._by_user[user] = [sys.intern(i) for i in channel_ids]
            if len(self._by_user) > self.MAX_USERS:
                del self._by_user[next(iter(self._by_user))]


async def _load(conn: AsyncConnection, channel_ids: list[str]) -> dict[str, Tip]:
    if not channel_ids:
        return {}
    return _tips(
        NewestRoots._make(await _LOAD.fetchrow(conn, {"ids": channel_ids, "depth": DEPTH}))
    )


def _tips(roots: NewestRoots) -> dict[str, Tip]:
    tips: dict[str, Tip] = {}
    start = 0
    for channel_id, group in itertools.groupby(roots.channels):
        end = start + sum(1 for _ in group)
        ids = tuple(roots.messages[start:end])
        if ids[0] is None:  # the channel has none
            tips[channel_id] = Tip((), (), (), complete=True)
        else:
            tips[channel_id] = Tip(
                ids,
                tuple(map(sys.intern, roots.users[start:end])),
                tuple(roots.newest_from[start:end]),
                complete=len(ids) < DEPTH,
            )
        start = end
    return tips


# Kept this long, then removed by housekeeping; a copy older than what was removed starts
# again (the watermark in nchat_root_changes_pruned says so).
RETENTION_S = 600
_PRUNE = sa.text(
    """
    WITH gone AS (
        DELETE FROM nchat_root_changes
        WHERE created_at < now() - make_interval(secs => :age)
          AND xid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
        RETURNING xid
    ), newest AS (SELECT max(xid) AS xid FROM gone)
    INSERT INTO nchat_root_changes_pruned (one, through_xid)
    SELECT true, xid FROM newest WHERE xid IS NOT NULL
    ON CONFLICT (one) DO UPDATE
    SET through_xid = greatest(nchat_root_changes_pruned.through_xid, excluded.through_xid)
    """
)


async def prune(conn: AsyncConnection, *, older_than_s: int = RETENTION_S) -> None:
    await conn.execute(_PRUNE, {"age": older_than_s})
