"""The one MetaData of nchat, with a constraint naming convention, and shared column helpers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def uuid_pk() -> sa.Column[Any]:
    return sa.Column("id", UUID(as_uuid=True), primary_key=True)


def created_at() -> sa.Column[Any]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def writing_xid() -> sa.Column[Any]:
    """The id of the transaction that wrote the row. Readers take rows of transactions their
    snapshot did not see, so a row that commits late is never skipped (realtime/log.py,
    channels/recent_roots.py)."""
    return sa.Column(
        "xid",
        sa.BigInteger,
        nullable=False,
        server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
    )
