from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import created_at, metadata, uuid_pk

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
