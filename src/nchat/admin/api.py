from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query

from nchat.admin import service
from nchat.admin.schemas import (
    AuditEntry,
    AuditList,
    AuditQuery,
    ConfigOut,
    ConfigPatch,
    PublicConfig,
)
from nchat.auth import rbac
from nchat.auth.deps import CurrentUser
from nchat.db.transaction import Conn
from nchat.errors import ValidationFailed

router = APIRouter(prefix="/api", tags=["admin"])

MAX_CONFIG_BYTES = 64 * 1024


@router.get("/config")
async def public_config(conn: Conn) -> PublicConfig:
    """What a sign-in page needs before anyone is signed in."""
    config = await service.get_config(conn)
    return PublicConfig(
        app_name=str(config["branding"].get("app_name", "nchat")),
        signup_open=bool(config["features"].get("signup_open")),
        setup_completed=bool(config["setup"].get("completed")),
        theme=config["theme"],
        file_uploads=bool(config["features"].get("file_uploads", True)),
        max_upload_bytes=int(config["files"]["max_upload_bytes"]),
    )


@router.get("/admin/config")
async def get_config(principal: CurrentUser, conn: Conn) -> ConfigOut:
    rbac.check_permission(principal.role, "config:read")
    return ConfigOut(**await service.get_config(conn))


@router.patch("/admin/config")
async def patch_config(body: ConfigPatch, principal: CurrentUser, conn: Conn) -> ConfigOut:
    rbac.check_permission(principal.role, "config:update")
    changes = body.model_dump(exclude_none=True)
    if len(orjson.dumps(changes)) > MAX_CONFIG_BYTES:
        raise ValidationFailed("The configuration is too large", code="config_too_large")
    config = await service.update_config(conn, changes)
    await service.audit(
        conn, "config.updated", actor_id=principal.id, details={"sections": sorted(changes)}
    )
    return ConfigOut(**config)


@router.get("/admin/audit")
async def audit_log(
    principal: CurrentUser, conn: Conn, query: Annotated[AuditQuery, Query()]
) -> AuditList:
    rbac.check_permission(principal.role, "audit:read")
    rows = await service.list_audit(conn, before_id=query.cursor, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    entries = [
        AuditEntry(**{**r, "actor_id": str(r["actor_id"]) if r["actor_id"] else None}) for r in rows
    ]
    return AuditList(entries=entries, next_cursor=str(rows[-1]["id"]) if more and rows else None)
