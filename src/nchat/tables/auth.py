from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import created_at, metadata, uuid_pk

# A session signed out (or revoked any other way: password change, deactivation) takes the
# devices it registered with it, whoever wrote the revocation (decision 0042).
SESSION_DEVICES_FUNCTION = """
CREATE OR REPLACE FUNCTION nchat_session_devices_unregister() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM nchat_push_devices WHERE session_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER nchat_sessions_unregister_devices AFTER UPDATE OF revoked_at ON nchat_sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
EXECUTE FUNCTION nchat_session_devices_unregister();
"""
SESSION_DEVICES_REFILL = """
DELETE FROM nchat_push_devices AS d USING nchat_sessions AS s
WHERE d.session_id = s.id AND s.revoked_at IS NOT NULL
"""


sessions = sa.Table(
    "nchat_sessions",
    metadata,
    uuid_pk(),
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # sha256 of the one refresh token currently valid for this session; older ones are reuse.
    sa.Column("refresh_hash", sa.Text, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("user_agent", sa.Text),
    sa.Column("ip", sa.Text),
    created_at(),
    sa.Column(
        "last_used_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_reason", sa.Text),
    # Offline sync bookkeeping of this device (GET /api/sync/status).
    sa.Column("last_sync_at", sa.DateTime(timezone=True)),
    sa.Column("last_sync_cursor", sa.Text),
    sa.Index("ix_nchat_sessions_user_id", "user_id"),
    info={
        "triggers": {
            "nchat_sessions_unregister_devices": (SESSION_DEVICES_FUNCTION, SESSION_DEVICES_REFILL)
        }
    },
)

login_failures = sa.Table(
    "nchat_login_failures",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("ip", sa.Text, nullable=False),
    created_at(),
    sa.Index("ix_nchat_login_failures_account_created_at", "account", "created_at"),
    sa.Index("ix_nchat_login_failures_ip_created_at", "ip", "created_at"),
)

# Addresses (IPv4, or an IPv6 /64) an account has signed in from: failures from elsewhere do
# not lock them out (decision 0060).
login_addresses = sa.Table(
    "nchat_login_addresses",
    metadata,
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column(
        "last_success_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("ix_nchat_login_addresses_last_success_at", "last_success_at"),
)
