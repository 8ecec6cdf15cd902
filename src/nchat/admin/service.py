"""App configuration (one row, JSONB sections) and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin import sections
from nchat.admin.schemas import AuditFilters
from nchat.tables.admin import app_config, audit_log


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


async def get_config(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Every section, typed (admin/sections.py): what is not stored takes its default."""
    row = (await conn.execute(sa.select(app_config).where(app_config.c.id == 1))).mappings().first()
    return sections.dump(sections.read(dict(row) if row else {}))


async def update_config(
    conn: AsyncConnection, changes: dict[str, dict[str, Any]], *, lock: bool = True
) -> dict[str, dict[str, Any]]:
    """Deep-merge `changes` into the stored sections (the row is locked while merging)."""
    query = sa.select(app_config).where(app_config.c.id == 1)
    row = (await conn.execute(query.with_for_update() if lock else query)).mappings().first()
    stored: dict[str, Any] = dict(row) if row else {}
    values = {s: _merge(stored.get(s) or {}, changes[s]) for s in changes}
    if row is None:
        await conn.execute(sa.insert(app_config).values(id=1, **values))
    else:
        await conn.execute(
            sa.update(app_config)
            .where(app_config.c.id == 1)
            .values(**values, updated_at=sa.func.now())
        )
    return await get_config(conn)


async def audit(
    conn: AsyncConnection,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        sa.insert(audit_log).values(
            action=action,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            ip=ip,
            details=details or {},
        )
    )


async def list_audit(
    conn: AsyncConnection,
    *,
    before_id: int | None,
    limit: int,
    filters: AuditFilters | None = None,
) -> list[dict[str, Any]]:
    """Entries newest first, below `before_id`, that match every filter given."""
    a = audit_log.c
    query = sa.select(audit_log).order_by(a.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(a.id < before_id)
    if filters is not None:
        query = query.where(*_audit_conditions(filters))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


def _audit_conditions(filters: AuditFilters) -> list[sa.ColumnElement[bool]]:
    a = audit_log.c
    where: list[sa.ColumnElement[bool]] = []
    if filters.action is not None:
        if filters.action.endswith("."):
            where.append(a.action.startswith(filters.action, autoescape=True))
        else:
            where.append(a.action == filters.action)
    if filters.actor_id is not None:
        where.append(a.actor_id == filters.actor_id)
    if filters.target_type is not None:
        where.append(a.target_type == filters.target_type)
    if filters.target is not None:
        where.append(a.target_id == filters.target)
    if filters.since is not None:
        where.append(a.created_at >= filters.since)
    if filters.until is not None:
        where.append(a.created_at < filters.until)
    return where
