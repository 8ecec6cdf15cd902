"""Programmatic Alembic: status, up, down, history.

Synchronous: code already inside an event loop calls these from a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import create_async_engine

from nchat.db.engine import async_url

MIGRATION_LOCK_KEY = 0x6E63686174  # "nchat"

# Alembic runs env.py through a module-global proxy (`alembic.context`), so two commands in
# one process at once trample each other's environment. Processes are serialised by the
# advisory lock env.py takes; threads of one process by this lock.
_command_lock = threading.Lock()


class MigrationError(RuntimeError):
    """A revision that does not exist or cannot be reached from the current one."""


@contextmanager
def _revision_errors() -> Iterator[None]:
    try:
        yield
    except (CommandError, RevisionError) as exc:
        raise MigrationError(str(exc)) from exc


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


@dataclass(frozen=True)
class Ahead:
    """A database migrated by a newer nchat: the applied revisions this one does not know,
    and whether each declared itself expand-only (it only adds), so this version still runs
    on the schema (decision 0057)."""

    revision: str
    unknown: tuple[str, ...]
    compatible: bool


# Column-agnostic: the mirror of an older database has no expand_only column.
_MIRROR_ROWS = sa.text("SELECT to_jsonb(m) AS row FROM schema_migrations m ORDER BY version")


def ahead_of(conn: sa.Connection, revision: str | None) -> Ahead | None:
    """None when this nchat knows `revision` (the database's; or there is none)."""
    known = {r.version for r in history()}
    if revision is None or revision in known:
        return None
    rows = [row for (row,) in conn.execute(_MIRROR_ROWS)]
    unknown = [r for r in rows if r["version"] not in known]
    return Ahead(
        revision=revision,
        unknown=tuple(r["version"] for r in unknown),
        compatible=bool(unknown) and all(r.get("expand_only") is True for r in unknown),
    )


async def _ahead_async(url: str) -> Ahead | None:
    engine = create_async_engine(async_url(url), poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: ahead_of(sync, MigrationContext.configure(sync).get_current_revision())
            )
    finally:
        await engine.dispose()


def ahead(url: str) -> Ahead | None:
    return asyncio.run(_ahead_async(url))


def pending(url: str) -> list[Revision]:
    return pending_after(current(url))


def pending_after(revision: str | None) -> list[Revision]:
    applied = {r.version for r in applied_chain(revision)}
    return [r for r in history() if r.version not in applied]


def applied_chain(revision: str | None) -> list[Revision]:
    if revision is None:
        return []
    with _revision_errors():
        scripts = list(script_directory().iterate_revisions(revision, "base"))
    return [Revision.of(s) for s in reversed(scripts)]


def upgrade(url: str, to: str = "head") -> None:
    with _command_lock, _revision_errors():
        command.upgrade(alembic_config(url), to)


def downgrade(url: str, *, to: str | None = None, steps: int | None = None) -> None:
    if (to is None) == (steps is None):
        raise ValueError("give exactly one of to= or steps=")
    if steps is not None and steps < 1:
        raise ValueError("steps must be at least 1")
    target = to if to is not None else f"-{steps}"
    with _command_lock, _revision_errors():
        command.downgrade(alembic_config(url), target)
