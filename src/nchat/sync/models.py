from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from nchat.db.meta import created_at, metadata

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
    created_at(),
    sa.CheckConstraint("status IN ('applied', 'rejected')", name="status_valid"),
)
