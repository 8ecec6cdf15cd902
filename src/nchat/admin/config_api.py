"""The configuration's versions: list them, restore one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nchat.admin import config_history, sections
from nchat.admin.config_history import VersionList, VersionQuery
from nchat.admin.schemas import ConfigOut
from nchat.auth import rbac
from nchat.auth.deps import CurrentUser
from nchat.db.transaction import Conn
from nchat.errors import NotFound

router = APIRouter(prefix="/admin/config/history", tags=["admin"])


@router.get("")
async def config_history_list(
    principal: CurrentUser, conn: Conn, query: Annotated[VersionQuery, Query()]
) -> VersionList:
    """Every change, newest first: its version, time, actor and the keys it changed."""
    rbac.check_permission(principal.role, "config:read")
    return await config_history.list_versions(conn, query)


@router.post("/{version}/restore")
async def config_restore(version: int, principal: CurrentUser, conn: Conn) -> ConfigOut:
    """That version's whole configuration becomes the current one, as a new version."""
    rbac.check_permission(principal.role, "config:update")
    if not 1 <= version <= 2**31 - 1:
        raise NotFound(f"No configuration version {version}", code="config_version_not_found")
    restored = await config_history.do_restore(conn, version, actor_id=principal.id)
    return ConfigOut(**sections.dump(restored))
