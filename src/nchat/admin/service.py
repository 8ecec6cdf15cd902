"""App configuration (one row, JSONB sections) and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.tables.admin import CONFIG_SECTIONS, app_config, audit_log

MOBILE_DEFAULTS: dict[str, Any] = {
    "offlineCache": {"enabled": True, "maxMessages": 1000, "maxMediaSize": 524_288_000},
    "backgroundSync": {"enabled": True, "interval": 15},
    "analytics": {"enabled": False, "firebaseConfig": None},
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "setup": {"completed": False},
    "owner": {},
    "branding": {"app_name": "nchat"},
    "theme": {"mode": "system", "accent": "#2f6fed"},
    "features": {"signup_open": False, "file_uploads": True},
    "integrations": {},
    "mobile": MOBILE_DEFAULTS,
    "files": {"max_upload_bytes": 100 * 1024 * 1024},
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


async def get_config(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Every section, stored values laid over the defaults."""
    row = (await conn.execute(sa.select(app_config).where(app_config.c.id == 1))).mappings().first()
    stored: dict[str, Any] = dict(row) if row else {}
    return {s: _merge(DEFAULTS[s], stored.get(s) or {}) for s in CONFIG_SECTIONS}


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
    conn: AsyncConnection, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]
