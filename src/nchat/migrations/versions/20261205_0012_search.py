"""search: a text search configuration (stemming, accents folded), each message's lexemes
kept by a trigger, and GIN indexes for words and for substrings, built concurrently

Revision ID: 20261205_0012
Revises: 20261205_0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261205_0012"
down_revision = "20261205_0011"
branch_labels = None
depends_on = None

# As of this revision; tables/messages.py holds the current DDL (the doctor's fix uses it).
# Every step may run again: a run interrupted after its first commit (the indexes are built
# outside a transaction) is finished by running the migration again.
_CONFIGURATION = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'nchat_search') THEN
        CREATE TEXT SEARCH CONFIGURATION nchat_search (COPY = pg_catalog.english);
        ALTER TEXT SEARCH CONFIGURATION nchat_search
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
        -- The language it stems for.
        COMMENT ON TEXT SEARCH CONFIGURATION nchat_search IS 'english';
    END IF;
END
$$
"""
_FUNCTION = """
CREATE OR REPLACE FUNCTION nchat_message_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('nchat_search', NEW.text);
    RETURN NEW;
END
$$
"""
_TRIGGER = (
    "CREATE TRIGGER nchat_messages_search BEFORE INSERT OR UPDATE OF text ON nchat_messages "
    "FOR EACH ROW EXECUTE FUNCTION nchat_message_search()"
)
# Rows filled per statement while the index is built: each batch is a short transaction of
# its own, so writers are never held up for longer than one batch's row locks.
_BATCH = 10_000
_BACKFILL = sa.text(
    """
    UPDATE nchat_messages SET search = to_tsvector('nchat_search', text)
    WHERE id IN (SELECT id FROM nchat_messages WHERE search IS NULL LIMIT :batch)
    """
)
_INDEXES = {
    "ix_nchat_messages_search": "nchat_messages USING gin (search)",
    "ix_nchat_messages_text_trgm": "nchat_messages USING gin (text gin_trgm_ops)",
}
# A concurrent build that was interrupted leaves an invalid index behind, which IF NOT
# EXISTS would keep: such a one is dropped and built again.
_INVALID = sa.text(
    """
    SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE NOT i.indisvalid AND c.relname = ANY(:names)
    """
)


def upgrade() -> None:
    # Both are trusted extensions: the database's owner may create them.
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(_CONFIGURATION)
    # Nullable, no default: PostgreSQL adds it without rewriting or locking the table for long.
    op.execute("ALTER TABLE nchat_messages ADD COLUMN IF NOT EXISTS search tsvector")
    op.execute(_FUNCTION)
    op.execute("DROP TRIGGER IF EXISTS nchat_messages_search ON nchat_messages")
    op.execute(_TRIGGER)
    # Outside any transaction: the rows already there are filled in batches, and the indexes
    # are built concurrently, so sends and edits go on while a large table is indexed.
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        while bind.execute(_BACKFILL, {"batch": _BATCH}).rowcount:
            pass
        for name in bind.execute(_INVALID, {"names": list(_INDEXES)}).scalars():
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
        for name, target in _INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_nchat_messages_text_trgm")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_nchat_messages_search")
    op.execute("DROP TRIGGER nchat_messages_search ON nchat_messages")
    op.execute("DROP FUNCTION nchat_message_search()")
    op.drop_column("nchat_messages", "search")
    op.execute("DROP TEXT SEARCH CONFIGURATION nchat_search")
    # The extensions stay: other schemas of the database may use them.
