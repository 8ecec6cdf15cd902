"""channel members: a user's memberships in channel order, for the channel list

Revision ID: 20261202_0005
Revises: 20261202_0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "20261202_0005"
down_revision = "20261202_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (user_id, channel_id) serves everything (user_id) did, and hands the channel list its
    # rows already in order: a merge join instead of a nested loop over every membership.
    op.create_index(
        "ix_nchat_channel_members_user_id_channel_id",
        "nchat_channel_members",
        ["user_id", "channel_id"],
        unique=False,
    )
    op.drop_index("ix_nchat_channel_members_user_id", table_name="nchat_channel_members")


def downgrade() -> None:
    op.create_index(
        "ix_nchat_channel_members_user_id", "nchat_channel_members", ["user_id"], unique=False
    )
    op.drop_index("ix_nchat_channel_members_user_id_channel_id", table_name="nchat_channel_members")
