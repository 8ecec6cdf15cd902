from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from nchat.tables.meta import metadata

# One row while maintenance mode is on, none while it is off (decision 0048).
maintenance = sa.Table(
    "nchat_maintenance",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("allow_admins", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retry_after_s", sa.Integer, nullable=False),
    # Who turned it on (NULL: the CLI), and since when; updated_at moves on every change.
    sa.Column("started_by", UUID(as_uuid=True)),
    sa.Column(
        "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("id = 1", name="single_row"),
    sa.CheckConstraint("retry_after_s > 0", name="retry_after_positive"),
)
