from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import created_at, metadata, uuid_pk

LEVELS = ("all", "mentions", "nothing")
PUSH_CONTENT = ("full", "sender", "none")
REASONS = ("dm", "mention", "thread", "message")
# pending: waiting for its delay; none: nothing to send this way (no device, email off);
# the rest say why it ended.
STATES = ("pending", "none", "sent", "read", "active", "dnd", "deleted", "failed")


def _user_fk() -> sa.Column[object]:
    return sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        nullable=False,
    )


push_devices = sa.Table(
    "nchat_push_devices",
    metadata,
    uuid_pk(),
    _user_fk(),
    # The client's own name for the device: registering it again replaces the row.
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("platform", sa.Text, nullable=False),
    # The session that registered it: signing that session out unregisters the device.
    sa.Column(
        "session_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("token", sa.Text),
    sa.Column("endpoint", sa.Text),
    sa.Column("p256dh", sa.Text),
    sa.Column("auth", sa.Text),
    sa.Column("app_id", sa.Text),
    created_at(),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("platform IN ('webpush', 'apns', 'fcm')", name="platform_valid"),
    sa.CheckConstraint(
        "(platform = 'webpush') = (endpoint IS NOT NULL AND p256dh IS NOT NULL "
        "AND auth IS NOT NULL AND token IS NULL)",
        name="shape",
    ),
    sa.UniqueConstraint("user_id", "device_id"),
    sa.Index("ix_nchat_push_devices_session_id", "session_id"),
)

# A person's settings; no row: the defaults (mentions, full text, email on, no schedule).
notification_settings = sa.Table(
    "nchat_notification_settings",
    metadata,
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("level", sa.Text, nullable=False, server_default="mentions"),
    sa.Column("push_content", sa.Text, nullable=False, server_default="full"),
    sa.Column("email", sa.Boolean, nullable=False, server_default=sa.true()),
    # Do not disturb every day from start to end (local time in dnd_timezone; may wrap past
    # midnight).
    sa.Column("dnd_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("dnd_start", sa.Time),
    sa.Column("dnd_end", sa.Time),
    sa.Column("dnd_timezone", sa.Text, nullable=False, server_default="UTC"),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("level IN ('all', 'mentions', 'nothing')", name="level_valid"),
    sa.CheckConstraint("push_content IN ('full', 'sender', 'none')", name="content_valid"),
    sa.CheckConstraint(
        "NOT dnd_enabled OR (dnd_start IS NOT NULL AND dnd_end IS NOT NULL)", name="dnd_shape"
    ),
)

# A person's settings for one channel; no row: follow the person's level, not muted.
channel_notification_settings = sa.Table(
    "nchat_channel_notification_settings",
    metadata,
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "channel_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_channels.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("level", sa.Text, nullable=False, server_default="default"),
    sa.Column("muted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("level IN ('default', 'all', 'mentions', 'nothing')", name="level_valid"),
)

# One row per person told about one message: what the delays wait on and the jobs deliver.
notifications = sa.Table(
    "nchat_notifications",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _user_fk(),
    sa.Column(
        "message_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "channel_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_channels.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("reason", sa.Text, nullable=False),
    created_at(),
    sa.Column("push_state", sa.Text, nullable=False),
    sa.Column("push_due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("push_attempts", sa.Integer, nullable=False, server_default="0"),
    # Devices already reached, so a retry after a partial failure reaches only the rest.
    sa.Column(
        "pushed_devices",
        sa.ARRAY(UUID(as_uuid=True)),
        nullable=False,
        server_default=sa.text("'{}'"),
    ),
    sa.Column("email_state", sa.Text, nullable=False),
    sa.Column("email_due_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('dm', 'mention', 'thread', 'message')", name="reason_valid"),
    sa.UniqueConstraint("message_id", "user_id"),
    sa.Index(
        "ix_nchat_notifications_push_pending",
        "push_due_at",
        postgresql_where=sa.text("push_state = 'pending'"),
    ),
    sa.Index(
        "ix_nchat_notifications_email_pending",
        "user_id",
        "email_due_at",
        postgresql_where=sa.text("email_state = 'pending'"),
    ),
    sa.Index("ix_nchat_notifications_created_at", "created_at"),
)

# Where in the event log the notifier has got to (one row): whoever holds its lock decides.
notifier_position = sa.Table(
    "nchat_notifier_position",
    metadata,
    sa.Column("one", sa.Boolean, primary_key=True, server_default=sa.true()),
    sa.Column("xid", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("one", name="one_row"),
)
