from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from nchat.tables.meta import created_at, metadata

# One row per offline operation ever applied or refused, so a replayed queue is answered from
# here instead of being applied twice.
sync_ops = sa.Table(
    "nchat_sync_ops",
    metadata,
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("client_op_id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("result", JSONB),
    sa.Column("error", JSONB),
    # A hash of what the operation was (type and payload): the same id replayed with anything
    # else is refused instead of answered with the first operation's result. NULL on rows
    # written before it was kept.
    sa.Column("digest", sa.Text),
    created_at(),
    sa.CheckConstraint("status IN ('applied', 'rejected')", name="status_valid"),
)
