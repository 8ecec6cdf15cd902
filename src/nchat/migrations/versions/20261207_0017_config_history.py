"""config history: every change of the app configuration as a numbered version, and the
auth_providers section

Revision ID: 20261207_0017
Revises: 20261207_0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "20261207_0017"
down_revision = "20261207_0016"
branch_labels = None
depends_on = None
# Only adds: the nchat before it runs on this schema (a rolling upgrade's rollback).
expand_only = True


def upgrade() -> None:
    # One transaction: all of it is there or none. All of it is when the revision was
    # recorded lower by hand (a run cut off in a later step is run again from here).
    if sa.inspect(op.get_bind()).has_table("nchat_config_versions"):
        return
    op.add_column(
        "nchat_app_config",
        sa.Column("auth_providers", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
    op.create_table(
        "nchat_config_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("config", JSONB(), nullable=False),
        sa.Column("changes", JSONB(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("actor_id", UUID(as_uuid=True), nullable=True),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_nchat_config_versions_version_positive")),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_nchat_config_versions")),
    )


def downgrade() -> None:
    op.drop_table("nchat_config_versions")
    op.drop_column("nchat_app_config", "auth_providers")
