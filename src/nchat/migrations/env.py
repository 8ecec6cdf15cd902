"""Alembic environment: each migration in its own transaction, all under one session-level
advisory lock; history mirrored in schema_migrations.

A transaction per migration lets a migration build an index on a large table with CREATE
INDEX CONCURRENTLY (`op.get_context().autocommit_block()`), which cannot run inside a
transaction and does not block writes; every other migration is still all or nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from nchat.db.engine import async_url
from nchat.db.migrate import MIGRATION_LOCK_KEY
from nchat.tables import metadata

MIRROR_DDL = (
    """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version text PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # What a migration declared (`expand_only` in its module): true when it only adds, so
    # an older nchat still runs on the schema (migrate.ahead reads it; decision 0057).
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS expand_only boolean",
)
MIRROR_UPSERT = """
INSERT INTO schema_migrations (version, name, expand_only) VALUES (:v, :n, :e)
ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, expand_only = EXCLUDED.expand_only
"""


def _expand_only(script: Script) -> bool | None:
    declared = getattr(script.module, "expand_only", None)
    return declared if isinstance(declared, bool) else None


def _mirror(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Keep schema_migrations equal to the applied revisions after every step."""
    conn = ctx.connection
    assert conn is not None
    if step.is_upgrade:
        revision = step.up_revision
        assert isinstance(revision, Script)
        conn.execute(
            sa.text(MIRROR_UPSERT + ", applied_at = now()"),
            {
                "v": revision.revision,
                "n": (revision.doc or "").strip(),
                "e": _expand_only(revision),
            },
        )
    else:
        conn.execute(
            sa.text("DELETE FROM schema_migrations WHERE version = :v"),
            {"v": step.up_revision_id},
        )


def _reconcile_mirror(connection: Connection) -> None:
    """Make schema_migrations hold exactly the applied revisions, whatever happened before
    (a mirror dropped or edited by hand, a database migrated before the mirror existed)."""
    heads = MigrationContext.configure(connection).get_current_heads()
    scripts = context.script
    applied = {s.revision: s for s in scripts.iterate_revisions(heads, "base")} if heads else {}
    connection.execute(
        sa.text("DELETE FROM schema_migrations WHERE NOT (version = ANY(:versions))"),
        {"versions": list(applied)},
    )
    for version, script in applied.items():
        connection.execute(
            sa.text(MIRROR_UPSERT),
            {"v": version, "n": (script.doc or "").strip(), "e": _expand_only(script)},
        )


def _is_nchat_table(name: str | None, type_: str, _parents: Any) -> bool:
    return type_ != "table" or (name or "").startswith("nchat_")


# How often a process waiting for another's migrations tries the lock again.
LOCK_POLL_S = 0.2


def _lock(connection: Connection) -> None:
    """Take the migration lock for the session, across the migrations' transactions: nodes
    starting together queue here, and the later ones find nothing pending once the first is
    done. Waiting is a retry between transactions, never a statement blocked on the lock: a
    CREATE INDEX CONCURRENTLY of the migrating node waits for every open transaction to end,
    so one blocked inside a transaction would wait on it forever (a deadlock)."""
    take = sa.text("SELECT pg_try_advisory_lock(:k)")
    while not connection.execute(take, {"k": MIGRATION_LOCK_KEY}).scalar():
        connection.rollback()
        time.sleep(LOCK_POLL_S)
    connection.commit()


def _run(connection: Connection) -> None:
    _lock(connection)
    try:
        for statement in MIRROR_DDL:
            connection.execute(sa.text(statement))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            on_version_apply=_mirror,
            include_name=_is_nchat_table,
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        _reconcile_mirror(connection)
        connection.commit()
    finally:
        connection.rollback()  # what a failed step left open, so the unlock can run
        connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()


async def _run_async(url: str) -> None:
    engine = create_async_engine(async_url(url), poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


existing: Connection | None = context.config.attributes.get("connection")
if existing is not None:
    _run(existing)
else:
    asyncio.run(_run_async(context.config.attributes["url"]))
