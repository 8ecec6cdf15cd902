from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import created_at, metadata, uuid_pk

STATUSES = ("pending", "running", "ready", "failed", "downloaded", "expired")
# An export in the making: at most one per person (the unique index below).
ACTIVE = ("pending", "running")

# A person's data export (decision 0056): whose data, who asked, and the zip's object in the
# store while it is there (`key`, until downloaded or expired).
exports = sa.Table(
    "nchat_exports",
    metadata,
    uuid_pk(),
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The admin who asked, or the person themselves; no foreign key, as in the audit log.
    sa.Column("requested_by", UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("key", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("error", sa.Text),
    created_at(),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("downloaded_at", sa.DateTime(timezone=True)),
    # A download under way holds the export (one at a time) until it ends or goes stale.
    sa.Column("download_started_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(
        "status IN ('pending', 'running', 'ready', 'failed', 'downloaded', 'expired')",
        name="status_valid",
    ),
    sa.CheckConstraint("size IS NULL OR size >= 0", name="size_nonnegative"),
    sa.Index("ix_nchat_exports_user_id_created_at", "user_id", "created_at"),
    sa.Index(
        "uq_nchat_exports_user_id_active",
        "user_id",
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    ),
    # The periodic sweep: ready ones past their expiry, and ones in the making for too long.
    sa.Index(
        "ix_nchat_exports_status_created_at",
        "status",
        "created_at",
        postgresql_where=sa.text("status IN ('pending', 'running', 'ready')"),
    ),
)
