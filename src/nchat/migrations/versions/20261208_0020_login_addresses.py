"""login addresses: where each account has signed in from, kept out of lockouts by others

Revision ID: 20261208_0020
Revises: 20261207_0019
Create Date: 2026-12-08
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "20261208_0020"
down_revision = "20261207_0019"
branch_labels = None
depends_on = None
# Only adds: the nchat before it runs on this schema (a rolling upgrade's rollback).
expand_only = True


def upgrade() -> None:
    # One transaction: all of it is there or none. All of it is when the revision was
    # recorded lower by hand (a run cut off in a later step is run again from here).
    if sa.inspect(op.get_bind()).has_table("nchat_login_addresses"):
        return
    op.create_table(
        "nchat_login_addresses",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column(
            "last_success_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["nchat_users.id"],
            name=op.f("fk_nchat_login_addresses_user_id_nchat_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "address", name=op.f("pk_nchat_login_addresses")),
    )
    op.create_index(
        "ix_nchat_login_addresses_last_success_at", "nchat_login_addresses", ["last_success_at"]
    )
    # The addresses of live sessions are known already: people signed in before the upgrade
    # are kept out of lockouts without having to sign in again first.
    bind = op.get_bind()
    live = bind.execute(
        sa.text(
            "SELECT user_id, ip, max(created_at) FROM nchat_sessions "
            "WHERE revoked_at IS NULL AND expires_at > now() AND ip IS NOT NULL "
            "GROUP BY user_id, ip"
        )
    ).all()
    known: dict[tuple[uuid.UUID, str], datetime] = {}
    for user_id, ip, at in live:
        key = (user_id, _address_key(ip))
        known[key] = max(at, known.get(key, at))
    if known:
        bind.execute(
            sa.text(
                "INSERT INTO nchat_login_addresses (user_id, address, last_success_at) "
                "VALUES (:u, :a, :t)"
            ),
            [{"u": u, "a": a, "t": t} for (u, a), t in known.items()],
        )


def _address_key(ip: str) -> str:
    """auth/ratelimit.py's address_key as of this revision: IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def downgrade() -> None:
    op.drop_table("nchat_login_addresses")
