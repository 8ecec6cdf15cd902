"""`/api/admin/audit`: the audit log, filtered and paged, or downloaded whole (CSV, JSON Lines)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from nchat import appstate
from nchat.admin import audit_export, service
from nchat.admin.schemas import AuditExportQuery, AuditFilters, AuditList, AuditQuery
from nchat.auth import rbac
from nchat.auth.deps import CurrentUser, client_ip
from nchat.db.engine import ENGINE
from nchat.db.transaction import Conn

# Included in admin/api.py, under its /api.
router = APIRouter(prefix="/admin/audit", tags=["admin"])

_FILTERS = set(AuditFilters.model_fields)


@router.get("")
async def audit_log(
    principal: CurrentUser, conn: Conn, query: Annotated[AuditQuery, Query()]
) -> AuditList:
    rbac.check_permission(principal.role, "audit:read")
    rows = await service.list_audit(
        conn, before_id=query.cursor, limit=query.limit + 1, filters=query
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return AuditList(
        entries=[audit_export.entry(r) for r in rows],
        next_cursor=str(rows[-1]["id"]) if more and rows else None,
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The matching entries, newest first",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def export(
    request: Request,
    principal: CurrentUser,
    conn: Conn,
    query: Annotated[AuditExportQuery, Query()],
) -> StreamingResponse:
    rbac.check_permission(principal.role, "audit:read")
    filters = AuditFilters.model_validate(query.model_dump(include=_FILTERS))
    # Reading the whole log out is itself worth a line in it.
    await service.audit(
        conn,
        "audit.exported",
        actor_id=principal.id,
        ip=client_ip(request),
        details={"format": query.format, "filters": filters.model_dump(mode="json")},
    )
    name = audit_export.filename(query.format)
    return StreamingResponse(
        audit_export.stream(appstate.get(request.app, ENGINE), filters, query.format),
        media_type=audit_export.MEDIA_TYPES[query.format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
