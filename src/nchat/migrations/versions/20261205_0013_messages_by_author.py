"""messages: an index by author, for `from:` searches and for deleting a user's messages

Revision ID: 20261205_0013
Revises: 20261205_0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261205_0013"
down_revision = "20261205_0012"
branch_labels = None
depends_on = None

NAME = "ix_nchat_messages_user_id_id"
# An interrupted concurrent build leaves an invalid index that IF NOT EXISTS would keep.
_INVALID = sa.text(
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE NOT i.indisvalid AND c.relname = :name"
)


def upgrade() -> None:
    # Built concurrently: sends go on while a large table is indexed (operations.md).
    with op.get_context().autocommit_block():
        if op.get_bind().execute(_INVALID, {"name": NAME}).first() is not None:
            op.execute(f"DROP INDEX CONCURRENTLY {NAME}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON nchat_messages (user_id, id)"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
