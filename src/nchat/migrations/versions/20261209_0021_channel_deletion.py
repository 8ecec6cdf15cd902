"""channel deletion: a channel an admin deleted is marked, then emptied in batches

Revision ID: 20261209_0021
Revises: 20261208_0020
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261209_0021"
down_revision = "20261208_0020"
branch_labels = None
depends_on = None
# Only adds a nullable column: the nchat before it runs on this schema (a rolling upgrade's
# rollback). A channel marked by this one has no members and is not public, so an older
# nchat hides it too.
expand_only = True


def upgrade() -> None:
    # One transaction: all of it is there or none. All of it is when the revision was
    # recorded lower by hand (a run cut off in a later step is run again from here).
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("nchat_channels")}
    if "deleted_at" in columns:
        return
    op.add_column("nchat_channels", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_nchat_channels_deleted_at",
        "nchat_channels",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_nchat_channels_deleted_at", table_name="nchat_channels")
    op.drop_column("nchat_channels", "deleted_at")
