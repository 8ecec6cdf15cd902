"""The language search stems words for: the `nchat_search` text search configuration's
stemmer, and rebuilding every message's lexemes after it changes (`nchat search reindex`)."""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat.errors import ValidationFailed

# Rows rebuilt per statement: each batch is a transaction of its own, so writers wait for
# at most one batch's row locks.
BATCH = 10_000
_NAME = re.compile(r"[a-z]{2,32}")

CURRENT = sa.text(
    "SELECT obj_description(oid, 'pg_ts_config') FROM pg_ts_config WHERE cfgname = 'nchat_search'"
)
STEMMERS = sa.text(
    "SELECT replace(dictname, '_stem', '') FROM pg_ts_dict WHERE dictname LIKE '%\\_stem' "
    "ORDER BY 1"
)
_REBUILD = sa.text(
    """
    UPDATE nchat_messages SET search = to_tsvector('nchat_search', text)
    WHERE id IN (
        SELECT id FROM nchat_messages WHERE id > :after ORDER BY id LIMIT :batch
    )
    RETURNING id
    """
)


async def current(conn: AsyncConnection) -> str | None:
    found = await conn.scalar(CURRENT)
    return str(found) if found else None


async def available(conn: AsyncConnection) -> list[str]:
    """The languages PostgreSQL has a stemmer for, and `simple` (no stemming)."""
    return ["simple", *(await conn.execute(STEMMERS)).scalars()]


async def switch(conn: AsyncConnection, language: str) -> None:
    """Make the configuration stem for `language` (its dictionaries must exist)."""
    if not _NAME.fullmatch(language) or language not in await available(conn):
        raise ValidationFailed(
            f"PostgreSQL has no stemmer for {language!r}", code="unknown_search_language"
        )
    stemmer = "simple" if language == "simple" else f"{language}_stem"
    # Every kind of word token, ASCII ones included: those are mapped on their own.
    await conn.execute(
        sa.text(
            "ALTER TEXT SEARCH CONFIGURATION nchat_search ALTER MAPPING FOR "
            "asciiword, asciihword, hword_asciipart, word, hword, hword_part "
            f"WITH unaccent, {stemmer}"
        )
    )
    await conn.execute(
        sa.text(f"COMMENT ON TEXT SEARCH CONFIGURATION nchat_search IS '{language}'")
    )


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT count(*) FROM nchat_messages")) or 0)


async def rebuild(engine: AsyncEngine, progress: Callable[[int], None]) -> int:
    """Every message's lexemes again, in id order, a batch per transaction; the number of
    messages rebuilt. Messages written meanwhile get the new lexemes from the trigger."""
    after = "00000000-0000-0000-0000-000000000000"
    done = 0
    while True:
        async with engine.begin() as conn:
            ids = list((await conn.execute(_REBUILD, {"after": after, "batch": BATCH})).scalars())
        if not ids:
            return done
        done += len(ids)
        progress(len(ids))
        after = str(max(ids))
