"""Live streams end when access ends.

A WebSocket or GraphQL subscription is authorised once, when it opens; what happens later
(sign-out, a revoked session, a deactivated or deleted user, a password reset) reaches the
session caches as "these users changed", here and, over the bus, on every node. The guard
listens to that: it looks up, in one statement, which of those users' local streams still
have a live session, and ends the others (their owners close them with 4001). A sweep of
every local stream now and then covers what no signal announces (a session that simply
runs out, a bus message lost while the bus was down)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.appstate import Key
from nchat.auth import repository
from nchat.auth.session_cache import SessionCache
from nchat.realtime.hub import Hub, Subscriber

logger = structlog.get_logger("nchat.streams")

SWEEP_S = 30.0
RETRY_S = 1.0


class StreamGuard:
    def __init__(self, engine: AsyncEngine, hub: Hub, cache: SessionCache) -> None:
        self.engine = engine
        self.hub = hub
        self._pending: set[uuid.UUID] = set()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        cache.on_forget(self.users_changed)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def users_changed(self, user_ids: set[uuid.UUID]) -> None:
        """Called on the event loop; the check runs in the guard's task, batched."""
        if any(self.hub.subscribers_of(u) for u in user_ids):
            self._pending |= user_ids
            self._kick.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + SWEEP_S
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_sweep - loop.time())):
                    await self._kick.wait()
            self._kick.clear()
            if loop.time() >= next_sweep:
                subs = self.hub.subscribers()
                next_sweep = loop.time() + SWEEP_S
            else:
                user_ids, self._pending = self._pending, set()
                subs = [s for u in user_ids for s in self.hub.subscribers_of(u)]
            try:
                await self.check(subs)
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("session check of live streams failed; retrying", error=str(exc))
                self._pending |= {s.user_id for s in subs}
                await asyncio.sleep(RETRY_S)
                self._kick.set()

    async def check(self, subs: list[Subscriber]) -> None:
        """End the streams among `subs` whose session no longer grants access."""
        ids = list({s.session_id for s in subs if s.session_id is not None})
        if not ids:
            return
        async with self.engine.connect() as conn:
            live = await repository.live_among(conn, ids)
        for sub in subs:
            if sub.session_id is not None and sub.session_id not in live:
                sub.ended.set()


STREAM_GUARD: Key[StreamGuard] = Key("stream_guard")
