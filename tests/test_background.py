"""The background work of a process: housekeeping runs as a job on the queue, the worker
outlives its connections, and stopping leaves nothing running even when the database was never
reached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat import background, housekeeping
from nchat.appstate import get
from nchat.db.engine import create_engine
from nchat.jobs.queue import APPLICATION_NAME, QUEUE, defer
from nchat.observability import Metrics
from nchat.storage import make_storage
from tests.conftest import make_settings
from tests.fixtures.factories import UserFactory
from tests.realtime.nodes import eventually

AGED = """
INSERT INTO nchat_sessions (id, user_id, refresh_hash, expires_at, revoked_at)
VALUES (gen_random_uuid(), :user_id, md5(random()::text), now() - interval '40 days', NULL),
       (gen_random_uuid(), :user_id, md5(random()::text), now() + interval '1 day',
        now() - interval '31 days'),
       (gen_random_uuid(), :user_id, md5(random()::text), now() - interval '1 day', NULL);
INSERT INTO nchat_sync_ops (user_id, client_op_id, type, status, created_at)
VALUES (:user_id, 'old', 'message.send', 'applied', now() - interval '91 days'),
       (:user_id, 'recent', 'message.send', 'applied', now() - interval '80 days');
INSERT INTO nchat_login_failures (account, ip, created_at)
VALUES ('old', '192.0.2.1', now() - interval '1 day');
"""


async def counts(conn: AsyncConnection, user_id: object) -> tuple[int, list[str], int]:
    sessions = await conn.scalar(
        sa.text("SELECT count(*) FROM nchat_sessions WHERE user_id = :u"), {"u": user_id}
    )
    ops = await conn.scalars(sa.text("SELECT client_op_id FROM nchat_sync_ops ORDER BY 1"))
    failures = await conn.scalar(sa.text("SELECT count(*) FROM nchat_login_failures"))
    return int(sessions or 0), list(ops), int(failures or 0)


async def test_housekeeping_is_a_periodic_job_that_prunes_what_has_ended(
    app: FastAPI, engine: AsyncEngine, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = get(app, background.BACKGROUND).jobs
    periodic = jobs.periodic_registry.periodic_tasks
    assert periodic[(housekeeping.TASK, housekeeping.TASK)].cron == housekeeping.CRON
    await the_worker_prunes(app, engine, make_user, monkeypatch)


HEARTBEAT_WAITING = sa.text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name = :name AND wait_event_type = 'Lock' AND query LIKE '%heartbeat%'"
)
KILL_JOBS = sa.text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND application_name = :name"
)


async def test_the_worker_outlives_its_connections(
    app: FastAPI, engine: AsyncEngine, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a PostgreSQL restart does to the queue's connections while the worker's heartbeat
    # (one of procrastinate's side tasks, every 10 s) is under way: procrastinate's worker
    # then stops, without raising, and nchat's must start it again.
    async with engine.connect() as locker:
        await locker.execute(sa.text("LOCK TABLE procrastinate_workers"))

        async def heartbeat_waiting() -> bool:
            async with engine.connect() as conn:
                rows = await conn.execute(HEARTBEAT_WAITING, {"name": APPLICATION_NAME})
                return bool(rows.all())

        await eventually(heartbeat_waiting, timeout=30, what="the worker's heartbeat")
        async with engine.connect() as conn:
            killed = await conn.scalar(KILL_JOBS, {"name": APPLICATION_NAME})
        assert killed and killed >= 1
        await locker.rollback()
    await the_worker_prunes(app, engine, make_user, monkeypatch)


async def the_worker_prunes(
    app: FastAPI, engine: AsyncEngine, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row per batch: the two ended sessions take two transactions of the same round.
    monkeypatch.setattr(housekeeping, "BATCH", 1)
    ada = await make_user()
    async with engine.begin() as conn:
        for statement in AGED.strip().split(";\n"):
            await conn.execute(sa.text(statement), {"user_id": ada.id})
        # Ada's own session, one that expired a day ago (kept) and two long ended: counted
        # before they commit, or the schedule's own run could prune them first.
        assert await counts(conn, ada.id) == (4, ["old", "recent"], 1)
    # What the schedule does every five minutes, now: the app's own worker runs it.
    # (Unless the schedule's own job is waiting already: then that one does it.)
    await defer(
        get(app, background.BACKGROUND).jobs, housekeeping.TASK, task_kwargs={"timestamp": 0}
    )

    async def pruned() -> bool:
        async with engine.connect() as conn:
            return await counts(conn, ada.id) == (2, ["recent"], 0)

    await eventually(pruned, what="housekeeping's job to prune")


def pool_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("pool-")}


async def test_stopping_before_the_queue_opened_leaves_no_pool_running(tmp_path: Path) -> None:
    # Nothing listens at this socket: the job queue's pool keeps trying to connect.
    url = f"postgresql://postgres@/nchat?host={tmp_path}"
    settings = make_settings(url, tmp_path)
    engine = create_engine(url)
    work = background.make(settings, engine, Metrics(), make_storage(settings))
    others = pool_tasks()  # the pools of apps other tests started on this event loop
    try:
        await work.start()

        async def connecting() -> bool:
            return bool(pool_tasks() - others)

        await eventually(connecting, what="the job queue's pool trying to connect")
        # The pool's workers swallow a cancellation while they connect, so a pool that is
        # not closed would keep the event loop (and the process) from ending.
        await work.stop()
        assert pool_tasks() - others == set()
    finally:
        await engine.dispose()


def test_every_task_is_on_the_queue_the_workers_take_jobs_from(app: FastAPI) -> None:
    jobs = get(app, background.BACKGROUND).jobs
    periodic = {task.task.name for task in jobs.periodic_registry.periodic_tasks.values()}
    assert {housekeeping.TASK, "notifications.rescue"} <= periodic
    # A periodic job goes to its task's queue: one the workers do not read would wait forever.
    ours = {name: task.queue for name, task in jobs.tasks.items() if "procrastinate" not in name}
    assert ours == dict.fromkeys(ours, QUEUE)
    assert len(ours) >= 4


async def test_housekeeping_drops_jobs_stranded_on_a_queue_no_worker_reads(
    engine: AsyncEngine, tmp_path: Path, database_url: str, clean_db: None
) -> None:
    async with engine.begin() as conn:
        # What nchat 0.1.0 deferred every minute, and a job of ours due next year.
        await conn.execute(
            sa.text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at) "
                "VALUES ('default', 'notifications.rescue', '{}', NULL), "
                "('nchat', 'housekeeping.run', '{}', now() + interval '1 year')"
            )
        )
    settings = make_settings(database_url, tmp_path)
    await housekeeping.run_once(engine, settings, make_storage(settings))
    async with engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT queue_name FROM procrastinate_jobs"))).all()
    assert [row[0] for row in left] == ["nchat"]
