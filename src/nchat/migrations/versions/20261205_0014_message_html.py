"""messages: the text rendered to sanitised HTML, stored beside it, and an index of the rows
written before it, built concurrently

Revision ID: 20261205_0014
Revises: 20261205_0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261205_0014"
down_revision = "20261205_0013"
branch_labels = None
depends_on = None

INDEX = "ix_nchat_messages_html_missing"
# An interrupted concurrent build leaves an invalid index that IF NOT EXISTS would keep.
_INVALID = sa.text(
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE NOT i.indisvalid AND c.relname = :name"
)


def upgrade() -> None:
    # Nullable, no default: added without rewriting the table. The rows already there are not
    # rendered here (a million would hold the upgrade for minutes): reads render a row whose
    # html is NULL, and housekeeping fills them in batches, walking this index (decision 0035).
    op.execute("ALTER TABLE nchat_messages ADD COLUMN IF NOT EXISTS html text")
    with op.get_context().autocommit_block():
        if op.get_bind().execute(_INVALID, {"name": INDEX}).first() is not None:
            op.execute(f"DROP INDEX CONCURRENTLY {INDEX}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON nchat_messages (id) "
            "WHERE html IS NULL"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    op.drop_column("nchat_messages", "html")
