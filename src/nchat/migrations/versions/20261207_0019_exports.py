"""exports: a person's data exports (GDPR access requests), built in the background

Revision ID: 20261207_0019
Revises: 20261207_0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "20261207_0019"
down_revision = "20261207_0018"
branch_labels = None
depends_on = None
# Only adds: the nchat before it runs on this schema (a rolling upgrade's rollback).
expand_only = True


def upgrade() -> None:
    # One transaction: all of it is there or none. All of it is when the revision was
    # recorded lower by hand (a run cut off in a later step is run again from here).
    if sa.inspect(op.get_bind()).has_table("nchat_exports"):
        return
    op.create_table(
        "nchat_exports",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("requested_by", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("download_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'ready', 'failed', 'downloaded', 'expired')",
            name=op.f("ck_nchat_exports_status_valid"),
        ),
        sa.CheckConstraint(
            "size IS NULL OR size >= 0", name=op.f("ck_nchat_exports_size_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_exports_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_exports")),
    )
    op.create_index(
        "ix_nchat_exports_user_id_created_at", "nchat_exports", ["user_id", "created_at"]
    )
    op.create_index(
        "uq_nchat_exports_user_id_active",
        "nchat_exports",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_index(
        "ix_nchat_exports_status_created_at",
        "nchat_exports",
        ["status", "created_at"],
        postgresql_where=sa.text("status IN ('pending', 'running', 'ready')"),
    )


def downgrade() -> None:
    # Zips still in the store stay there (under `exports/`), for the operator to remove.
    op.drop_table("nchat_exports")
