"""realtime and sync: event log, offline operations, presence

Revision ID: 20261125_0003
Revises: 20261125_0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261125_0003"
down_revision = "20261125_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nchat_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("target_user_id", sa.UUID(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_events")),
    )
    op.create_index("ix_nchat_events_xid_id", "nchat_events", ["xid", "id"], unique=False)
    op.create_index("ix_nchat_events_created_at", "nchat_events", ["created_at"], unique=False)
    op.create_table(
        "nchat_sync_ops",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("client_op_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('applied', 'rejected')", name=op.f("ck_nchat_sync_ops_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_sync_ops_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "client_op_id", name=op.f("pk_nchat_sync_ops")),
    )
    op.create_table(
        "nchat_presence",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), server_default="online", nullable=False),
        sa.Column(
            "last_seen", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('online', 'away', 'dnd')", name=op.f("ck_nchat_presence_status_valid")
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_nchat_presence")),
    )
    op.create_index("ix_nchat_presence_user_id", "nchat_presence", ["user_id"], unique=False)
    op.add_column("nchat_sessions", sa.Column("last_sync_at", sa.DateTime(timezone=True)))
    op.add_column("nchat_sessions", sa.Column("last_sync_cursor", sa.Text()))


def downgrade() -> None:
    op.drop_column("nchat_sessions", "last_sync_cursor")
    op.drop_column("nchat_sessions", "last_sync_at")
    op.drop_table("nchat_sync_ops")
    op.drop_index("ix_nchat_presence_user_id", table_name="nchat_presence")
    op.drop_table("nchat_presence")
    op.drop_index("ix_nchat_events_created_at", table_name="nchat_events")
    op.drop_index("ix_nchat_events_xid_id", table_name="nchat_events")
    op.drop_table("nchat_events")
