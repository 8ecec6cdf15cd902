"""sync ops: keep a digest of each operation, so a reused client_op_id is recognised

Revision ID: 20261204_0010
Revises: 20261204_0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261204_0010"
down_revision = "20261204_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nchat_sync_ops", sa.Column("digest", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("nchat_sync_ops", "digest")
