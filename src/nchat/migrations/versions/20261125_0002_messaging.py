"""messaging: channels, members, messages, edits, reactions, pins, bookmarks, mentions, thread followers

Revision ID: 20261125_0002
Revises: 20261125_0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261125_0002"
down_revision = "20261125_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nchat_channels",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("topic", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("read_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("member_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("dm_key", sa.Text(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
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
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(type IN ('direct', 'group')) = (name IS NULL AND dm_key IS NOT NULL)",
            name=op.f("ck_nchat_channels_dm_shape"),
        ),
        sa.CheckConstraint(
            "member_count >= 0", name=op.f("ck_nchat_channels_member_count_nonnegative")
        ),
        sa.CheckConstraint(
            "type IN ('public', 'private', 'direct', 'group', 'announcement')",
            name=op.f("ck_nchat_channels_type_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_channels_created_by_nchat_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_channels")),
    )
    op.create_index(
        "uq_nchat_channels_dm_key",
        "nchat_channels",
        ["dm_key"],
        unique=True,
        postgresql_where=sa.text("dm_key IS NOT NULL"),
    )
    op.create_index(
        "uq_nchat_channels_name",
        "nchat_channels",
        ["name"],
        unique=True,
        postgresql_where=sa.text("name IS NOT NULL"),
    )
    op.create_table(
        "nchat_channel_members",
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Text(), server_default="member", nullable=False),
        sa.Column("last_read_id", sa.UUID(), nullable=True),
        sa.Column(
            "joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'member')", name=op.f("ck_nchat_channel_members_role_valid")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["nchat_channels.id"],
            name=op.f("fk_nchat_channel_members_channel_id_nchat_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_channel_members_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "user_id", name=op.f("pk_nchat_channel_members")),
    )
    op.create_index(
        "ix_nchat_channel_members_user_id", "nchat_channel_members", ["user_id"], unique=False
    )
    op.create_table(
        "nchat_messages",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.UUID(), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column(
            "mentions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("reply_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(text) <= 40000", name=op.f("ck_nchat_messages_text_length")),
        sa.CheckConstraint(
            "reply_count >= 0", name=op.f("ck_nchat_messages_reply_count_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["nchat_channels.id"],
            name=op.f("fk_nchat_messages_channel_id_nchat_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_messages_thread_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_messages_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_messages")),
    )
    op.create_index(
        "ix_nchat_messages_channel_root",
        "nchat_messages",
        ["channel_id", "id"],
        unique=False,
        postgresql_include=["user_id", "deleted_at", "created_at"],
        postgresql_where=sa.text("thread_id IS NULL"),
    )
    op.create_index(
        "ix_nchat_messages_thread",
        "nchat_messages",
        ["thread_id", "id"],
        unique=False,
        postgresql_where=sa.text("thread_id IS NOT NULL"),
    )
    op.create_index(
        "uq_nchat_messages_user_client_id",
        "nchat_messages",
        ["user_id", "client_id"],
        unique=True,
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )
    op.create_table(
        "nchat_bookmarks",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_bookmarks_message_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_bookmarks_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "message_id", name=op.f("pk_nchat_bookmarks")),
    )
    op.create_index(
        "ix_nchat_bookmarks_user_created",
        "nchat_bookmarks",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "nchat_mentions",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["nchat_channels.id"],
            name=op.f("fk_nchat_mentions_channel_id_nchat_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_mentions_message_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_mentions_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_nchat_mentions")),
    )
    op.create_index(
        "ix_nchat_mentions_user_channel_message",
        "nchat_mentions",
        ["user_id", "channel_id", "message_id"],
        unique=False,
    )
    op.create_index(
        "ix_nchat_mentions_user_message", "nchat_mentions", ["user_id", "message_id"], unique=False
    )
    op.create_table(
        "nchat_message_edits",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "edited_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_message_edits_message_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_message_edits")),
    )
    op.create_index(
        "ix_nchat_message_edits_message_id",
        "nchat_message_edits",
        ["message_id", "id"],
        unique=False,
    )
    op.create_table(
        "nchat_pinned_messages",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("channel_id", sa.UUID(), nullable=False),
        sa.Column("pinned_by", sa.UUID(), nullable=True),
        sa.Column(
            "pinned_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["nchat_channels.id"],
            name=op.f("fk_nchat_pinned_messages_channel_id_nchat_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_pinned_messages_message_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pinned_by"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_pinned_messages_pinned_by_nchat_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_nchat_pinned_messages")),
    )
    op.create_index(
        "ix_nchat_pinned_messages_channel_id",
        "nchat_pinned_messages",
        ["channel_id", "pinned_at"],
        unique=False,
    )
    op.create_table(
        "nchat_reactions",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("emoji", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_reactions_message_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_reactions_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", "emoji", name=op.f("pk_nchat_reactions")),
    )
    op.create_table(
        "nchat_thread_followers",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["nchat_messages.id"],
            name=op.f("fk_nchat_thread_followers_message_id_nchat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_thread_followers_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_nchat_thread_followers")),
    )
    op.create_index(
        "ix_nchat_thread_followers_user_id", "nchat_thread_followers", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_nchat_thread_followers_user_id", table_name="nchat_thread_followers")
    op.drop_table("nchat_thread_followers")
    op.drop_table("nchat_reactions")
    op.drop_index("ix_nchat_pinned_messages_channel_id", table_name="nchat_pinned_messages")
    op.drop_table("nchat_pinned_messages")
    op.drop_index("ix_nchat_message_edits_message_id", table_name="nchat_message_edits")
    op.drop_table("nchat_message_edits")
    op.drop_index("ix_nchat_mentions_user_message", table_name="nchat_mentions")
    op.drop_index("ix_nchat_mentions_user_channel_message", table_name="nchat_mentions")
    op.drop_table("nchat_mentions")
    op.drop_index("ix_nchat_bookmarks_user_created", table_name="nchat_bookmarks")
    op.drop_table("nchat_bookmarks")
    op.drop_index(
        "uq_nchat_messages_user_client_id",
        table_name="nchat_messages",
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_nchat_messages_thread",
        table_name="nchat_messages",
        postgresql_where=sa.text("thread_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_nchat_messages_channel_root",
        table_name="nchat_messages",
        postgresql_where=sa.text("thread_id IS NULL"),
    )
    op.drop_table("nchat_messages")
    op.drop_index("ix_nchat_channel_members_user_id", table_name="nchat_channel_members")
    op.drop_table("nchat_channel_members")
    op.drop_index(
        "uq_nchat_channels_name",
        table_name="nchat_channels",
        postgresql_where=sa.text("name IS NOT NULL"),
    )
    op.drop_index(
        "uq_nchat_channels_dm_key",
        table_name="nchat_channels",
        postgresql_where=sa.text("dm_key IS NOT NULL"),
    )
    op.drop_table("nchat_channels")
