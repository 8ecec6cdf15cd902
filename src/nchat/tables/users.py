from __future__ import annotations

import sqlalchemy as sa

from nchat.tables.meta import created_at, metadata, uuid_pk

ROLES = ("owner", "admin", "moderator", "member", "guest")

users = sa.Table(
    "nchat_users",
    metadata,
    uuid_pk(),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False, server_default="member"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("avatar_url", sa.Text),
    sa.Column("timezone", sa.Text),
    sa.Column("locale", sa.Text),
    sa.Column("status_text", sa.Text),
    created_at(),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(
        "role IN ('owner', 'admin', 'moderator', 'member', 'guest')", name="role_valid"
    ),
    sa.Index("uq_nchat_users_lower_username", sa.text("lower(username)"), unique=True),
    sa.Index("uq_nchat_users_lower_email", sa.text("lower(email)"), unique=True),
)
