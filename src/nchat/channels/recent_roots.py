"""Each process's copy of the newest root messages of the channels it has listed, so that a
channel list counts unread messages without one index probe per channel (decision 0023).

The copy holds, per channel, the newest live root messages (ids, authors, times) as of one
snapshot of the database. The list's statement also reads (CHANGES) which channels' root
messages changed between the copy's snapshot and its own: the `nchat_root_changes` rows,
written by triggers for every writer, of transactions the copy's snapshot did not see. Those
channels are forgotten; when the copy then lacks a listed channel, the list reads again in a
REPEATABLE READ transaction and loads it there. Everything a list counts from is therefore
exactly what its own snapshot holds. The copy is replaced, never changed in place: a request
counts from the version it started with, and publishes a newer one only if no other request
has published since it started."""

from __future__ import annotations

import itertools
import sys
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db.driver import DriverStatement

# Root messages kept per channel: a member whose read marker is older than the oldest of them
# is counted by PostgreSQL instead.
DEPTH = 20
MAX_CHANNELS = 10_000
# More changed rows than this since the copy's snapshot: start again rather than read them.
MAX_CHANGES = 1_000

_SINCE = "CAST(CAST(:since AS text) AS pg_snapshot)"
# Which channels changed since the copy's snapshot (`since`), as the statement's own snapshot
# sees it; joined as one row to the list's statement, so both are read in one snapshot.
CHANGES = (
    sa.text(
        f"""
        SELECT pg_current_snapshot()::text AS snapshot,
               (SELECT through_xid FROM nchat_root_changes_pruned)
                   >= (pg_snapshot_xmin({_SINCE})::text)::bigint AS stale,
               ARRAY(
                   SELECT channel_id::text FROM nchat_root_changes
                   WHERE xid >= (pg_snapshot_xmin({_SINCE})::text)::bigint
                     AND NOT pg_visible_in_snapshot((xid::text)::xid8, {_SINCE})
                   LIMIT :changes_limit
               ) AS changed
        """
    )
    .columns(sa.column("snapshot"), sa.column("stale"), sa.column("changed"))
    .subquery("changes")
)
_LOAD = DriverStatement(
    sa.text(
        """
        SELECT c.id::text, r.id::text, r.user_id::text, r.created_at
        FROM unnest(CAST(:ids AS uuid[])) AS c(id)
        LEFT JOIN LATERAL (
            SELECT id, user_id, created_at FROM nchat_messages
            WHERE channel_id = c.id AND thread_id IS NULL AND deleted_at IS NULL
            ORDER BY id DESC LIMIT :depth
        ) AS r ON true
        """
    ).columns(sa.column("channel_id"), sa.column("id"), sa.column("user_id"), sa.column("at"))
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
        return {"since": self.snapshot, "changes_limit": MAX_CHANGES + 1}


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
        self._version = self._roots.publish(self._version, None, self.tips)


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

    def apply(self, base: Base, snapshot: str, stale: bool | None, changed: list[str]) -> View:
        """The copy as of `snapshot`, from what CHANGES read against `base`."""
        tips = base.tips
        if base.snapshot is None or stale or len(changed) > MAX_CHANGES:
            tips = {}
        elif changed:
            gone = set(changed)
            tips = {k: v for k, v in tips.items() if k not in gone}
        return View(self, self.publish(base.version, snapshot, tips), tips)

    def publish(self, version: int, snapshot: str | None, tips: dict[str, Tip]) -> int:
        """Makes `tips` (as of `snapshot`, or of the copy's own) the copy, unless another
        request has published since `version`; returns the version to publish against next
        (one nobody has, when this one lost)."""
        if version != self._version:
            return -1
        if len(tips) > self._max:
            tips = dict(itertools.islice(tips.items(), len(tips) - self._max, None))
        self._version += 1
        if snapshot is not None:
            self._snapshot = snapshot
        self._tips = tips
        return self._version


async def _load(conn: AsyncConnection, channel_ids: list[str]) -> dict[str, Tip]:
    rows: dict[str, list[Any]] = {i: [] for i in channel_ids}
    for channel_id, message_id, user_id, created_at in await _LOAD.fetch(
        conn, {"ids": channel_ids, "depth": DEPTH}
    ):
        if message_id is not None:
            rows[channel_id].append((message_id, sys.intern(user_id), created_at))
    tips = {}
    for channel_id, newest_first in rows.items():
        newest_first.reverse()
        ids, users, times = zip(*newest_first, strict=True) if newest_first else ((), (), ())
        newest_from = list(times)
        for i in range(len(newest_from) - 2, -1, -1):
            newest_from[i] = max(newest_from[i], newest_from[i + 1])
        tips[channel_id] = Tip(ids, users, tuple(newest_from), complete=len(ids) < DEPTH)
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
