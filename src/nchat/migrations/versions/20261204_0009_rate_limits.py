"""rate_limits: per-user volume budgets (GCRA), in an unlogged table

Revision ID: 20261204_0009
Revises: 20261204_0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261204_0009"
down_revision = "20261204_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nchat_rate_limits",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_nchat_rate_limits"),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("nchat_rate_limits")
