"""Starting and stopping what notifications run in a process, when the database is not there."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nchat.db.engine import create_engine
from nchat.notifications import runtime
from nchat.observability import Metrics
from tests.conftest import make_settings
from tests.realtime.nodes import eventually


def pool_tasks() -> list[str]:
    return sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("pool-"))


async def test_stopping_before_the_queue_opened_leaves_no_pool_running(tmp_path: Path) -> None:
    # Nothing listens at this socket: the job queue's pool keeps trying to connect.
    url = f"postgresql://postgres@/nchat?host={tmp_path}"
    settings = make_settings(url, tmp_path)
    engine = create_engine(url)
    notifications = runtime.make(settings, engine, Metrics())
    try:
        await notifications.start()

        async def connecting() -> bool:
            return bool(pool_tasks())

        await eventually(connecting, what="the job queue's pool trying to connect")
        # The pool's workers swallow a cancellation while they connect, so a pool that is
        # not closed would keep the event loop (and the process) from ending.
        await notifications.stop()
        assert pool_tasks() == []
    finally:
        await engine.dispose()
