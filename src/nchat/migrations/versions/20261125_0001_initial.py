"""initial: users, sessions, login failures, app config, audit log

Revision ID: 20261125_0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261125_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nchat_app_config",
        sa.Column("id", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column(
            "setup",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "owner",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "branding",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "theme",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "features",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "integrations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("mobile", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_nchat_app_config_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_app_config")),
    )
    op.create_table(
        "nchat_audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_type", sa.Text(), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_audit_log")),
    )
    op.create_index("ix_nchat_audit_log_actor_id", "nchat_audit_log", ["actor_id"], unique=False)
    op.create_index(
        "ix_nchat_audit_log_created_at", "nchat_audit_log", ["created_at"], unique=False
    )
    op.create_table(
        "nchat_login_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_login_failures")),
    )
    op.create_index(
        "ix_nchat_login_failures_account_created_at",
        "nchat_login_failures",
        ["account", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_nchat_login_failures_ip_created_at",
        "nchat_login_failures",
        ["ip", "created_at"],
        unique=False,
    )
    op.create_table(
        "nchat_users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), server_default="", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default="member", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("locale", sa.Text(), nullable=True),
        sa.Column("status_text", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'moderator', 'member', 'guest')",
            name=op.f("ck_nchat_users_role_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_users")),
    )
    op.create_index(
        "uq_nchat_users_lower_email",
        "nchat_users",
        [sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_index(
        "uq_nchat_users_lower_username",
        "nchat_users",
        [sa.literal_column("lower(username)")],
        unique=True,
    )
    op.create_table(
        "nchat_sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("refresh_hash", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_sessions_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_sessions")),
    )
    op.create_index("ix_nchat_sessions_user_id", "nchat_sessions", ["user_id"], unique=False)
    # The single configuration row; sections start empty and the code supplies defaults.
    op.execute("INSERT INTO nchat_app_config (id) VALUES (1)")


def downgrade() -> None:
    op.drop_index("ix_nchat_sessions_user_id", table_name="nchat_sessions")
    op.drop_table("nchat_sessions")
    op.drop_index("uq_nchat_users_lower_username", table_name="nchat_users")
    op.drop_index("uq_nchat_users_lower_email", table_name="nchat_users")
    op.drop_table("nchat_users")
    op.drop_index("ix_nchat_login_failures_ip_created_at", table_name="nchat_login_failures")
    op.drop_index("ix_nchat_login_failures_account_created_at", table_name="nchat_login_failures")
    op.drop_table("nchat_login_failures")
    op.drop_index("ix_nchat_audit_log_created_at", table_name="nchat_audit_log")
    op.drop_index("ix_nchat_audit_log_actor_id", table_name="nchat_audit_log")
    op.drop_table("nchat_audit_log")
    op.drop_table("nchat_app_config")
