"""Programmatic Alembic: status, up, down, history.

Synchronous: code already inside an event loop calls these from a thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from nchat.db.engine import async_url

MIGRATION_LOCK_KEY = 0x6E63686174  # "nchat"


@dataclass(frozen=True)
class Revision:
    version: str
    name: str

    @classmethod
    def of(cls, script: Script) -> Revision:
        return cls(version=script.revision, name=(script.doc or "").strip())


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "nchat:migrations")
    cfg.attributes["url"] = url
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def history() -> list[Revision]:
    """All revisions, oldest first."""
    scripts = list(script_directory().walk_revisions("base", "heads"))
    return [Revision.of(s) for s in reversed(scripts)]


def head() -> str | None:
    return script_directory().get_current_head()


async def _current_async(url: str) -> str | None:
    engine = create_async_engine(async_url(url), poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def current(url: str) -> str | None:
    return asyncio.run(_current_async(url))


def pending(url: str) -> list[Revision]:
    return pending_after(current(url))


def pending_after(revision: str | None) -> list[Revision]:
    applied = {r.version for r in applied_chain(revision)}
    return [r for r in history() if r.version not in applied]


def applied_chain(revision: str | None) -> list[Revision]:
    if revision is None:
        return []
    scripts = script_directory().iterate_revisions(revision, "base")
    return [Revision.of(s) for s in reversed(list(scripts))]


def upgrade(url: str, to: str = "head") -> None:
    command.upgrade(alembic_config(url), to)


def downgrade(url: str, *, to: str | None = None, steps: int | None = None) -> None:
    if (to is None) == (steps is None):
        raise ValueError("give exactly one of to= or steps=")
    target = to if to is not None else f"-{steps}"
    command.downgrade(alembic_config(url), target)
