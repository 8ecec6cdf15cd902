"""Changing the app configuration: a PATCH, a restore or an import is validated whole, then
written with its version, its audit entry (only the changed keys, before and after) and the
config.updated event, all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin import sections
from nchat.admin.events import CONFIG_UPDATED
from nchat.admin.sections import EDITABLE_SECTIONS, AppConfig, ConfigInvalid, JsonObject
from nchat.admin.service import audit
from nchat.errors import NotFound, ValidationFailed
from nchat.realtime import log
from nchat.storable import CleanModel
from nchat.tables.admin import app_config, config_versions
from nchat.tables.files import files

MAX_VERSIONS_PAGE = 100
v = config_versions.c


class ConfigVersion(BaseModel):
    version: int
    changed_at: datetime
    actor_id: uuid.UUID | None
    action: str
    restored_from: int | None
    changes: dict[str, JsonObject]


class VersionList(BaseModel):
    versions: list[ConfigVersion]
    next_before: int | None


class VersionQuery(CleanModel):
    limit: int = Field(default=20, ge=1, le=MAX_VERSIONS_PAGE)
    before: int | None = Field(default=None, ge=1, le=2**31 - 1)


def invalid(exc: ConfigInvalid, where: Sequence[str]) -> ValidationFailed:
    errors = [{**e, "loc": [*where, *e["loc"]]} for e in exc.errors]
    return ValidationFailed(
        "The configuration is not valid", code="validation_error", details={"errors": errors}
    )


async def _stored(conn: AsyncConnection) -> tuple[JsonObject, bool]:
    """The row's sections (locked until the transaction ends), and whether the row exists."""
    query = sa.select(app_config).where(app_config.c.id == 1).with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return (dict(row) if row else {}), row is not None


async def check_logo(conn: AsyncConnection, config: AppConfig, where: Sequence[str]) -> None:
    """The logo names an uploaded image."""
    file_id = config.branding.logo_file_id
    if file_id is None:
        return
    kind = await conn.scalar(sa.select(files.c.content_type).where(files.c.id == file_id))
    if kind is None or not str(kind).startswith("image/"):
        msg = "no such file" if kind is None else "the file is not an image"
        error = {"loc": ["branding", "logo_file_id"], "msg": msg, "type": "logo_file"}
        raise invalid(ConfigInvalid([error]), where)


async def do_patch(
    conn: AsyncConnection,
    changes: JsonObject,
    *,
    actor_id: uuid.UUID | None,
    where: Sequence[str] = ("body",),
) -> AppConfig:
    """Deep-merge `changes` (editable sections only) into the configuration."""
    stored, exists = await _stored(conn)
    before = sections.read(stored)
    merged = sections.merge(sections.dump(before), changes)
    try:
        after = sections.validate(merged)
    except ConfigInvalid as exc:
        raise invalid(exc, where) from None
    return await _commit(
        conn, before, after, exists=exists, actor_id=actor_id, action="update", where=where
    )


async def do_replace(
    conn: AsyncConnection,
    whole: JsonObject,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    where: Sequence[str] = ("body",),
) -> AppConfig:
    """Every editable section as `whole` has it (keys it leaves out take their defaults)."""
    stored, exists = await _stored(conn)
    before = sections.read(stored)
    try:
        after = sections.validate({**whole, **sections.dump(before, sections.SETUP_SECTIONS)})
    except ConfigInvalid as exc:
        raise invalid(exc, where) from None
    return await _commit(
        conn, before, after, exists=exists, actor_id=actor_id, action=action, where=where
    )


async def do_restore(conn: AsyncConnection, version: int, *, actor_id: uuid.UUID) -> AppConfig:
    """That version's whole configuration, as a new version."""
    snapshot = await conn.scalar(sa.select(v.config).where(v.version == version))
    if snapshot is None:
        raise NotFound(f"No configuration version {version}", code="config_version_not_found")
    stored, exists = await _stored(conn)
    before = sections.read(stored)
    # Read as stored rows are: a key this nchat no longer knows takes its default.
    restored = sections.read({**snapshot, **sections.dump(before, sections.SETUP_SECTIONS)})
    return await _commit(
        conn, before, restored, exists=exists, actor_id=actor_id, action="restore", source=version
    )


async def _commit(
    conn: AsyncConnection,
    before: AppConfig,
    after: AppConfig,
    *,
    exists: bool,
    actor_id: uuid.UUID | None,
    action: str,
    source: int | None = None,
    where: Sequence[str] = (),
) -> AppConfig:
    await check_logo(conn, after, where)
    old, new = sections.dump(before, EDITABLE_SECTIONS), sections.dump(after, EDITABLE_SECTIONS)
    changed = sections.changes(old, new)
    if not changed and source is None:
        return after  # nothing to record: no version, no event
    if exists:
        await conn.execute(
            sa.update(app_config)
            .where(app_config.c.id == 1)
            .values(**new, updated_at=sa.func.now())
        )
    else:
        await conn.execute(sa.insert(app_config).values(id=1, **sections.dump(after)))
    last = await conn.scalar(sa.select(sa.func.max(v.version)))
    version = int(last or 0) + 1
    await conn.execute(
        sa.insert(config_versions).values(
            version=version,
            config=new,
            changes=changed,
            action=action,
            restored_from=source,
            actor_id=actor_id,
        )
    )
    details: JsonObject = {"version": version, "changes": changed}
    if source is not None:
        details["restored_from"] = source
    await audit(
        conn,
        "config.restored" if action == "restore" else "config.updated",
        actor_id=actor_id,
        target_type="config",
        target_id=str(version),
        details=details,
    )
    await log.emit(
        conn, CONFIG_UPDATED, sections.public_view(after), channel_id=None, actor_id=actor_id
    )
    return after


async def list_versions(conn: AsyncConnection, query: VersionQuery) -> VersionList:
    select = sa.select(config_versions).order_by(v.version.desc()).limit(query.limit + 1)
    if query.before is not None:
        select = select.where(v.version < query.before)
    rows: list[Any] = list((await conn.execute(select)).mappings())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return VersionList(
        versions=[ConfigVersion.model_validate(dict(r)) for r in rows],
        next_before=rows[-1]["version"] if more and rows else None,
    )
