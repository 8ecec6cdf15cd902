from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from nchat.tables.meta import created_at, metadata, writing_xid

events = sa.Table(
    "nchat_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    # Readers only take events of transactions older than every transaction still running,
    # so an event that commits late is never skipped (see log.py).
    writing_xid(),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("channel_id", UUID(as_uuid=True)),
    # Who caused it (NULL for the system).
    sa.Column("user_id", UUID(as_uuid=True)),
    # When set, only this user's devices receive the event (read markers, own membership).
    sa.Column("target_user_id", UUID(as_uuid=True)),
    # The member a membership event (members' copy) is about: replays find from these
    # whether a reader was a member when an event happened.
    sa.Column("subject_user_id", UUID(as_uuid=True)),
    sa.Column("data", JSONB, nullable=False),
    created_at(),
    sa.Index("ix_nchat_events_xid_id", "xid", "id"),
    sa.Index("ix_nchat_events_created_at", "created_at"),
    sa.Index(
        "ix_nchat_events_membership",
        "channel_id",
        "subject_user_id",
        "xid",
        "id",
        postgresql_where=sa.text("subject_user_id IS NOT NULL"),
    ),
)

# One row per open socket; a user is online while any of their sockets is fresh. Rows of a
# node that died go stale (last_seen) and are ignored, then removed by housekeeping.
presence = sa.Table(
    "nchat_presence",
    metadata,
    sa.Column("connection_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="online"),
    sa.Column(
        "last_seen", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("status IN ('online', 'away', 'dnd')", name="status_valid"),
    sa.Index("ix_nchat_presence_user_id", "user_id"),
)
