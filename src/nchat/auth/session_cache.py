"""Live sessions remembered per process for a few seconds, so most requests skip the session
check's round trip.

Every change that can end a session or change its user (revocation, sign-out, a user's
role, name, deactivation or deletion) marks the user among its transaction's effects;
after commit the transaction's owner forgets them here and tells every other process over
the bus (db/transaction.py). A check
that started before such a change is not remembered (the epoch moved meanwhile). The CLI
has no bus of its own: it publishes the same signal after its commit. Without the bus an
entry still expires after TTL_S (decision 0016). Whoever else keeps state per session (the
live streams' guard) hears of every forget through `on_forget`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

import orjson
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.appstate import Key
from nchat.db.transaction import effects
from nchat.realtime.bus import Bus
from nchat.realtime.topics import EPHEMERAL

TTL_S = 5.0
MAX_ENTRIES = 10_000


Forgotten = Callable[[set[uuid.UUID]], None]


def changed(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Mark a user whose sessions or row this transaction changes."""
    effects(conn).users.add(user_id)


def signal(user_ids: Iterable[uuid.UUID]) -> str:
    """The bus payload that tells every process these users' sessions or rows changed."""
    return orjson.dumps({"auth_changed": sorted(str(u) for u in user_ids)}).decode()


class SessionCache:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.epoch = 0  # moves on every forget(): a check begun before it is not stored
        self._entries: dict[uuid.UUID, tuple[uuid.UUID, RowMapping, float]] = {}
        self._watchers: list[Forgotten] = []
        bus.listen(self._on_bus)

    def on_forget(self, watcher: Forgotten) -> None:
        """Call `watcher` with the users whenever they are forgotten, here or elsewhere."""
        self._watchers.append(watcher)

    def get(self, session_id: uuid.UUID, user_id: uuid.UUID) -> RowMapping | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        owner, user, stored_at = entry
        if owner != user_id or time.monotonic() - stored_at > TTL_S:
            del self._entries[session_id]
            return None
        return user

    def put(self, session_id: uuid.UUID, user: RowMapping, epoch: int) -> None:
        """Remember a session found live by a check that began at `epoch`."""
        if epoch != self.epoch:
            return
        if len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[session_id] = (user["id"], user, time.monotonic())

    def _forget_here(self, user_ids: Iterable[uuid.UUID]) -> None:
        self.epoch += 1
        gone = set(user_ids)
        for session_id in [s for s, entry in self._entries.items() if entry[0] in gone]:
            del self._entries[session_id]
        for watcher in self._watchers:
            watcher(gone)

    async def forget(self, user_ids: set[uuid.UUID]) -> None:
        """After a commit that changed these users: here at once, elsewhere over the bus."""
        self._forget_here(user_ids)
        await self.bus.publish(EPHEMERAL, signal(user_ids))

    def _on_bus(self, topic: str, payload: str) -> None:
        if topic != EPHEMERAL or '"auth_changed"' not in payload:
            return
        try:
            signal = orjson.loads(payload)
            user_ids = [uuid.UUID(u) for u in signal["auth_changed"]]
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError):
            return
        self._forget_here(user_ids)


SESSION_CACHE: Key[SessionCache] = Key("session_cache")
