"""notifications: the job queue's schema (procrastinate 3.10), push devices, preferences, the
notifications waiting on their delay, and where the notifier is in the event log

Revision ID: 20261206_0015
Revises: 20261205_0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.util import await_only

revision = "20261206_0015"
down_revision = "20261205_0014"
branch_labels = None
depends_on = None

# procrastinate's own schema as its 3.10 release ships it, kept beside this migration so the
# migration means the same thing whichever procrastinate is installed. A later procrastinate
# brings its own migration scripts (procrastinate/sql/migrations): a later nchat migration
# applies them (decision 0042).
JOBS_SCHEMA = Path(__file__).with_name("procrastinate_3_10.sql")

# Every object of procrastinate's schema, found by name: its tables, types and functions.
_DROP_JOBS = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.fn);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
               AND t.typtype IN ('e', 'c') LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
    END LOOP;
END
$$
"""

_SESSION_FUNCTION = """
CREATE FUNCTION nchat_session_devices_unregister() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM nchat_push_devices WHERE session_id = NEW.id;
    RETURN NULL;
END
$$
"""
_SESSION_TRIGGER = (
    "CREATE TRIGGER nchat_sessions_unregister_devices AFTER UPDATE OF revoked_at "
    "ON nchat_sessions FOR EACH ROW "
    "WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL) "
    "EXECUTE FUNCTION nchat_session_devices_unregister()"
)


def _now() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _updated() -> sa.Column[object]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _fk(table: str, name: str, target: str) -> sa.Column[object]:
    referred = target.split(".", maxsplit=1)[0]
    return sa.Column(
        name,
        UUID(as_uuid=True),
        sa.ForeignKey(target, ondelete="CASCADE", name=op.f(f"fk_{table}_{name}_{referred}")),
        nullable=False,
    )


def upgrade() -> None:
    # One transaction: all of it is there or none. All of it is when the revision was
    # recorded lower by hand (a run cut off in a later step is run again from here).
    if sa.inspect(op.get_bind()).has_table("nchat_notifier_position"):
        return
    # Several statements: the driver's simple protocol, not a prepared statement.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(JOBS_SCHEMA.read_text()))

    op.create_table(
        "nchat_push_devices",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        _fk("nchat_push_devices", "user_id", "nchat_users.id"),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        _fk("nchat_push_devices", "session_id", "nchat_sessions.id"),
        sa.Column("token", sa.Text()),
        sa.Column("endpoint", sa.Text()),
        sa.Column("p256dh", sa.Text()),
        sa.Column("auth", sa.Text()),
        sa.Column("app_id", sa.Text()),
        _now(),
        _updated(),
        sa.CheckConstraint(
            "platform IN ('webpush', 'apns', 'fcm')",
            name=op.f("ck_nchat_push_devices_platform_valid"),
        ),
        sa.CheckConstraint(
            "(platform = 'webpush') = (endpoint IS NOT NULL AND p256dh IS NOT NULL "
            "AND auth IS NOT NULL AND token IS NULL)",
            name=op.f("ck_nchat_push_devices_shape"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_push_devices")),
        sa.UniqueConstraint(
            "user_id", "device_id", name=op.f("uq_nchat_push_devices_user_id_device_id")
        ),
    )
    op.create_index("ix_nchat_push_devices_session_id", "nchat_push_devices", ["session_id"])
    op.execute(_SESSION_FUNCTION)
    op.execute(_SESSION_TRIGGER)

    op.create_table(
        "nchat_notification_settings",
        _fk("nchat_notification_settings", "user_id", "nchat_users.id"),
        sa.Column("level", sa.Text(), server_default="mentions", nullable=False),
        sa.Column("push_content", sa.Text(), server_default="full", nullable=False),
        sa.Column("email", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("dnd_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dnd_start", sa.Time()),
        sa.Column("dnd_end", sa.Time()),
        sa.Column("dnd_timezone", sa.Text(), server_default="UTC", nullable=False),
        _updated(),
        sa.CheckConstraint(
            "level IN ('all', 'mentions', 'nothing')",
            name=op.f("ck_nchat_notification_settings_level_valid"),
        ),
        sa.CheckConstraint(
            "push_content IN ('full', 'sender', 'none')",
            name=op.f("ck_nchat_notification_settings_content_valid"),
        ),
        sa.CheckConstraint(
            "NOT dnd_enabled OR (dnd_start IS NOT NULL AND dnd_end IS NOT NULL)",
            name=op.f("ck_nchat_notification_settings_dnd_shape"),
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_nchat_notification_settings")),
    )
    op.create_table(
        "nchat_channel_notification_settings",
        _fk("nchat_channel_notification_settings", "user_id", "nchat_users.id"),
        _fk("nchat_channel_notification_settings", "channel_id", "nchat_channels.id"),
        sa.Column("level", sa.Text(), server_default="default", nullable=False),
        sa.Column("muted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint(
            "level IN ('default', 'all', 'mentions', 'nothing')",
            name=op.f("ck_nchat_channel_notification_settings_level_valid"),
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "channel_id", name=op.f("pk_nchat_channel_notification_settings")
        ),
    )
    op.create_table(
        "nchat_notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        _fk("nchat_notifications", "user_id", "nchat_users.id"),
        _fk("nchat_notifications", "message_id", "nchat_messages.id"),
        _fk("nchat_notifications", "channel_id", "nchat_channels.id"),
        sa.Column("reason", sa.Text(), nullable=False),
        _now(),
        sa.Column("push_state", sa.Text(), nullable=False),
        sa.Column("push_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("push_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "pushed_devices",
            sa.ARRAY(UUID(as_uuid=True)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("email_state", sa.Text(), nullable=False),
        sa.Column("email_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('dm', 'mention', 'thread', 'message')",
            name=op.f("ck_nchat_notifications_reason_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nchat_notifications")),
        sa.UniqueConstraint(
            "message_id", "user_id", name=op.f("uq_nchat_notifications_message_id_user_id")
        ),
    )
    op.create_index(
        "ix_nchat_notifications_push_pending",
        "nchat_notifications",
        ["push_due_at"],
        postgresql_where=sa.text("push_state = 'pending'"),
    )
    op.create_index(
        "ix_nchat_notifications_email_pending",
        "nchat_notifications",
        ["user_id", "email_due_at"],
        postgresql_where=sa.text("email_state = 'pending'"),
    )
    op.create_index("ix_nchat_notifications_created_at", "nchat_notifications", ["created_at"])
    op.create_table(
        "nchat_notifier_position",
        sa.Column("one", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        _updated(),
        sa.CheckConstraint("one", name=op.f("ck_nchat_notifier_position_one_row")),
        sa.PrimaryKeyConstraint("one", name=op.f("pk_nchat_notifier_position")),
    )
    # Messages sent before this version notify nobody: the notifier starts from now.
    op.execute(
        "INSERT INTO nchat_notifier_position (xid, event_id) "
        "VALUES ((pg_snapshot_xmin(pg_current_snapshot())::text)::bigint, 0)"
    )


def downgrade() -> None:
    op.drop_table("nchat_notifier_position")
    op.drop_table("nchat_notifications")
    op.drop_table("nchat_channel_notification_settings")
    op.drop_table("nchat_notification_settings")
    op.execute("DROP TRIGGER IF EXISTS nchat_sessions_unregister_devices ON nchat_sessions")
    op.execute("DROP FUNCTION IF EXISTS nchat_session_devices_unregister()")
    op.drop_table("nchat_push_devices")
    op.execute(_DROP_JOBS)
