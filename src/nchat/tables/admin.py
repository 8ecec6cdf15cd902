from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from nchat.tables.meta import created_at, metadata

CONFIG_SECTIONS = (
    "setup",
    "owner",
    "branding",
    "theme",
    "features",
    "integrations",
    "mobile",
    "files",
    "auth_providers",
)


def _section(name: str) -> sa.Column[object]:
    # `mobile` is optional (NULL until configured); the others always hold an object.
    if name == "mobile":
        return sa.Column(name, JSONB, nullable=True)
    return sa.Column(name, JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))


app_config = sa.Table(
    "nchat_app_config",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
    *(
        sa.Column(
            name,
            JSONB,
            nullable=name == "mobile",
            server_default=None if name == "mobile" else sa.text("'{}'::jsonb"),
        )
        for name in CONFIG_SECTIONS
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("id = 1", name="single_row"),
)

audit_log = sa.Table(
    "nchat_audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("actor_id", UUID(as_uuid=True)),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target_type", sa.Text),
    sa.Column("target_id", sa.Text),
    sa.Column("ip", sa.Text),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    created_at(),
    sa.Index("ix_nchat_audit_log_created_at", "created_at"),
    sa.Index("ix_nchat_audit_log_actor_id", "actor_id"),
)

# Every change of the editable sections, numbered: `config` is the whole of them after it.
config_versions = sa.Table(
    "nchat_config_versions",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("config", JSONB, nullable=False),
    sa.Column("changes", JSONB, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("restored_from", sa.Integer),
    sa.Column("actor_id", UUID(as_uuid=True)),
    sa.Column(
        "changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("version >= 1", name="version_positive"),
)
