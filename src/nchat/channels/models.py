from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.db.meta import created_at, metadata, uuid_pk

CHANNEL_TYPES = ("public", "private", "direct", "group", "announcement")
DM_TYPES = ("direct", "group")

channels = sa.Table(
    "nchat_channels",
    metadata,
    uuid_pk(),
    sa.Column("type", sa.Text, nullable=False),
    # NULL for DMs, which are named by their members.
    sa.Column("name", sa.Text),
    sa.Column("topic", sa.Text, nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
    # Kept by the membership writes (rare), so channel lists need not count members.
    sa.Column("member_count", sa.Integer, nullable=False, server_default="0"),
    # Sorted member ids of a DM: the unique index makes find-or-create race-free.
    sa.Column("dm_key", sa.Text),
    sa.Column("created_by", UUID(as_uuid=True), sa.ForeignKey("nchat_users.id")),
    created_at(),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("archived_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(
        "type IN ('public', 'private', 'direct', 'group', 'announcement')", name="type_valid"
    ),
    sa.CheckConstraint("member_count >= 0", name="member_count_nonnegative"),
    sa.CheckConstraint(
        "(type IN ('direct', 'group')) = (name IS NULL AND dm_key IS NOT NULL)",
        name="dm_shape",
    ),
    sa.Index(
        "uq_nchat_channels_name",
        "name",
        unique=True,
        postgresql_where=sa.text("name IS NOT NULL"),
    ),
    sa.Index(
        "uq_nchat_channels_dm_key",
        "dm_key",
        unique=True,
        postgresql_where=sa.text("dm_key IS NOT NULL"),
    ),
)

channel_members = sa.Table(
    "nchat_channel_members",
    metadata,
    sa.Column(
        "channel_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_channels.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("role", sa.Text, nullable=False, server_default="member"),
    # Last message read; message ids are time-ordered, so "unread" is "id greater than this".
    sa.Column("last_read_id", UUID(as_uuid=True)),
    sa.Column(
        "joined_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("role IN ('admin', 'member')", name="role_valid"),
    sa.Index("ix_nchat_channel_members_user_id_channel_id", "user_id", "channel_id"),
)
