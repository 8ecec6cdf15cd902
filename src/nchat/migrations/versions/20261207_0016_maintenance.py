"""maintenance: the maintenance mode's one row (present while it is on)

Revision ID: 20261207_0016
Revises: 20261206_0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "20261207_0016"
down_revision = "20261206_0015"
branch_labels = None
depends_on = None
# Only adds: the nchat before it runs on this schema (a rolling upgrade's rollback).
expand_only = True


def upgrade() -> None:
    # All of it is there when the revision was recorded lower by hand (a run cut off in a
    # later step is run again from here).
    if sa.inspect(op.get_bind()).has_table("nchat_maintenance"):
        return
    op.create_table(
        "nchat_maintenance",
        sa.Column("id", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("allow_admins", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("retry_after_s", sa.Integer, nullable=False),
        sa.Column("started_by", UUID(as_uuid=True)),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_maintenance")),
        sa.CheckConstraint("id = 1", name=op.f("ck_nchat_maintenance_single_row")),
        sa.CheckConstraint(
            "retry_after_s > 0", name=op.f("ck_nchat_maintenance_retry_after_positive")
        ),
    )


def downgrade() -> None:
    op.drop_table("nchat_maintenance")
