"""retention: the workspace's message retention policy and the channels' own

Revision ID: 20261207_0018
Revises: 20261207_0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "20261207_0018"
down_revision = "20261207_0017"
branch_labels = None
depends_on = None
# Only adds: the nchat before it runs on this schema (a rolling upgrade's rollback).
expand_only = True


def _policy_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("message_days", sa.Integer(), nullable=True),
        sa.Column("include_pinned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_by", UUID(as_uuid=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    # One transaction: all of it is there or none. All of it is when the revision was
    # recorded lower by hand (a run cut off in a later step is run again from here).
    if sa.inspect(op.get_bind()).has_table("nchat_retention_policy"):
        return
    op.create_table(
        "nchat_retention_policy",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        *_policy_columns(),
        sa.CheckConstraint("id = 1", name=op.f("ck_nchat_retention_policy_single_row")),
        sa.CheckConstraint(
            "message_days BETWEEN 1 AND 36500",
            name=op.f("ck_nchat_retention_policy_message_days_range"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_retention_policy_updated_by_nchat_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_retention_policy")),
    )
    op.create_table(
        "nchat_channel_retention",
        sa.Column("channel_id", UUID(as_uuid=True), nullable=False),
        *_policy_columns(),
        sa.CheckConstraint(
            "message_days BETWEEN 1 AND 36500",
            name=op.f("ck_nchat_channel_retention_message_days_range"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["nchat_channels.id"],
            name=op.f("fk_nchat_channel_retention_channel_id_nchat_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_channel_retention_updated_by_nchat_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_nchat_channel_retention")),
    )


def downgrade() -> None:
    op.drop_table("nchat_channel_retention")
    op.drop_table("nchat_retention_policy")
