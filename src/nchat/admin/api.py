from __future__ import annotations

import orjson
from fastapi import APIRouter

from nchat.admin import config_history, sections, service
from nchat.admin.audit_api import router as audit_router
from nchat.admin.config_api import router as history_router
from nchat.admin.schemas import (
    ConfigOut,
    ConfigPatch,
)
from nchat.auth import rbac
from nchat.auth.deps import CurrentUser
from nchat.db.transaction import Conn
from nchat.errors import ValidationFailed

router = APIRouter(prefix="/api", tags=["admin"])
router.include_router(history_router)
router.include_router(audit_router)

MAX_CONFIG_BYTES = 64 * 1024


@router.get("/config")
async def public_config(conn: Conn) -> sections.PublicConfig:
    """What a sign-in page needs before anyone is signed in."""
    return sections.public_view(sections.read(await service.get_config(conn)))


@router.get("/admin/config")
async def get_config(principal: CurrentUser, conn: Conn) -> ConfigOut:
    rbac.check_permission(principal.role, "config:read")
    return ConfigOut(**await service.get_config(conn))


@router.patch("/admin/config")
async def patch_config(body: ConfigPatch, principal: CurrentUser, conn: Conn) -> ConfigOut:
    rbac.check_permission(principal.role, "config:update")
    # A null inside a section clears that key; a null section changes nothing.
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if len(orjson.dumps(changes)) > MAX_CONFIG_BYTES:
        raise ValidationFailed("The configuration is too large", code="config_too_large")
    config = await config_history.do_patch(conn, changes, actor_id=principal.id)
    return ConfigOut(**sections.dump(config))
