"""event log: the user a membership event is about, so replays filter by membership then

Revision ID: 20261202_0004
Revises: 20261125_0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261202_0004"
down_revision = "20261125_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nchat_events", sa.Column("subject_user_id", sa.UUID(), nullable=True))
    # Membership events already in the log: the members' copy carries the user in its data.
    op.execute(
        """
        UPDATE nchat_events SET subject_user_id = (data ->> 'user_id')::uuid
        WHERE type IN ('member.joined', 'member.left') AND target_user_id IS NULL
        """
    )
    op.create_index(
        "ix_nchat_events_membership",
        "nchat_events",
        ["channel_id", "subject_user_id", "xid", "id"],
        unique=False,
        postgresql_where=sa.text("subject_user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_nchat_events_membership", table_name="nchat_events")
    op.drop_column("nchat_events", "subject_user_id")
