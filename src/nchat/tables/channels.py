from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import created_at, metadata, uuid_pk

CHANNEL_TYPES = ("public", "private", "direct", "group", "announcement")
DM_TYPES = ("direct", "group")

# A membership's last_mention_id, kept by PostgreSQL rather than by the code that writes
# mentions: every writer keeps it then, an older nchat during a rolling upgrade included
# (decision 0021). A new membership starts from the mentions already there (a member who
# left and came back); each mention written moves its member's mark forward.
MEMBER_MENTION_MARK = """
CREATE OR REPLACE FUNCTION nchat_member_mention_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_mention_id := (
        SELECT message_id FROM nchat_mentions
        WHERE user_id = NEW.user_id AND channel_id = NEW.channel_id
        ORDER BY message_id DESC LIMIT 1
    );
    RETURN NEW;
END
$$;
CREATE TRIGGER nchat_channel_members_mention_mark BEFORE INSERT ON nchat_channel_members
FOR EACH ROW EXECUTE FUNCTION nchat_member_mention_mark();
"""
MENTION_MARKS_MEMBER = """
CREATE OR REPLACE FUNCTION nchat_mention_marks_member() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE nchat_channel_members SET last_mention_id = NEW.message_id
    WHERE channel_id = NEW.channel_id AND user_id = NEW.user_id
      AND (last_mention_id IS NULL OR last_mention_id < NEW.message_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER nchat_mentions_mark_member AFTER INSERT ON nchat_mentions
FOR EACH ROW EXECUTE FUNCTION nchat_mention_marks_member();
"""
# Every mark from the mentions, for a trigger that was missing a while.
MENTION_MARKS_REFILL = """
UPDATE nchat_channel_members AS m SET last_mention_id = newest.message_id
FROM (
    SELECT DISTINCT ON (user_id, channel_id) user_id, channel_id, message_id
    FROM nchat_mentions ORDER BY user_id, channel_id, message_id DESC
) AS newest
WHERE m.user_id = newest.user_id AND m.channel_id = newest.channel_id
  AND m.last_mention_id IS DISTINCT FROM newest.message_id
"""

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
    # Set when an admin deletes the channel for good: it has lost its members and readers
    # then, and a job empties it in batches and removes the row (admin_channels/purge.py).
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
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
    # The few channels being deleted, for the job that finishes them.
    sa.Index(
        "ix_nchat_channels_deleted_at",
        "deleted_at",
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
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
    # The newest message that mentions this member here (or a later one): kept by the
    # database's triggers below, so a channel list counts mentions only where this is past
    # the read marker (decision 0021).
    sa.Column("last_mention_id", UUID(as_uuid=True)),
    sa.Column(
        "joined_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("role IN ('admin', 'member')", name="role_valid"),
    sa.Index("ix_nchat_channel_members_user_id_channel_id", "user_id", "channel_id"),
    info={
        "triggers": {
            "nchat_channel_members_mention_mark": (MEMBER_MENTION_MARK, MENTION_MARKS_REFILL)
        }
    },
)
