from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import metadata

# How long messages are kept (decision 0055). `message_days` NULL: kept forever.
MIN_DAYS = 1
MAX_DAYS = 36500
_DAYS_RANGE = f"message_days BETWEEN {MIN_DAYS} AND {MAX_DAYS}"


def _policy_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("message_days", sa.Integer),
        sa.Column("include_pinned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "updated_by",
            UUID(as_uuid=True),
            sa.ForeignKey("nchat_users.id", ondelete="SET NULL"),
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


# The workspace's policy: one row once an admin set it; none means keep forever.
retention_policy = sa.Table(
    "nchat_retention_policy",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
    *_policy_columns(),
    sa.CheckConstraint("id = 1", name="single_row"),
    sa.CheckConstraint(_DAYS_RANGE, name="message_days_range"),
)

# A channel's own policy, in place of the workspace's (keep forever included).
channel_retention = sa.Table(
    "nchat_channel_retention",
    metadata,
    sa.Column(
        "channel_id",
        UUID(as_uuid=True),
        sa.ForeignKey("nchat_channels.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    *_policy_columns(),
    sa.CheckConstraint(_DAYS_RANGE, name="message_days_range"),
)
