"""messages: a client_id is unique per user and channel, not per user

Revision ID: 20261204_0008
Revises: 20261203_0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261204_0008"
down_revision = "20261203_0007"
branch_labels = None
depends_on = None

_WHERE = sa.text("client_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "uq_nchat_messages_user_channel_client_id",
        "nchat_messages",
        ["user_id", "channel_id", "client_id"],
        unique=True,
        postgresql_where=_WHERE,
    )
    op.drop_index("uq_nchat_messages_user_client_id", table_name="nchat_messages")


def downgrade() -> None:
    # A key reused in another channel cannot stay unique per user: the later copies lose
    # their client_id (the messages themselves are kept).
    op.execute(
        sa.text(
            "UPDATE nchat_messages AS m SET client_id = NULL "
            "WHERE client_id IS NOT NULL AND EXISTS ("
            "SELECT 1 FROM nchat_messages AS o WHERE o.user_id = m.user_id "
            "AND o.client_id = m.client_id AND o.id < m.id)"
        )
    )
    op.create_index(
        "uq_nchat_messages_user_client_id",
        "nchat_messages",
        ["user_id", "client_id"],
        unique=True,
        postgresql_where=_WHERE,
    )
    op.drop_index("uq_nchat_messages_user_channel_client_id", table_name="nchat_messages")
