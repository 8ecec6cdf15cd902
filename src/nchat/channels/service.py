"""Channels: visibility, creation, DMs, settings, membership. Permission rules via rbac."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import audit
from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.channels import listing
from nchat.channels import repository as repo
from nchat.channels.events import ChannelInfo, MemberChanged
from nchat.channels.schemas import (
    MAX_GROUP_MEMBERS,
    ChannelCreate,
    ChannelList,
    ChannelOut,
    ChannelPatch,
    ChannelQuery,
    MemberBrief,
    MemberList,
    MemberOut,
)
from nchat.db.ids import uuid7
from nchat.errors import BadRequest, Conflict, Forbidden, NotFound
from nchat.realtime import log

DM_TYPES = frozenset({"direct", "group"})


def channel_not_found() -> NotFound:
    return NotFound("No such channel", code="channel_not_found")


@dataclass(frozen=True)
class ChannelAccess:
    channel: RowMapping
    membership: dict[str, Any] | None

    @property
    def id(self) -> uuid.UUID:
        value: uuid.UUID = self.channel["id"]
        return value

    @property
    def is_member(self) -> bool:
        return self.membership is not None

    @property
    def is_channel_admin(self) -> bool:
        return self.membership is not None and self.membership["role"] == "admin"


def sees_public(principal: Principal) -> bool:
    return rbac.has_permission(principal.role, "channel:read_public")


async def get_access(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal
) -> ChannelAccess:
    """The channel as the caller may see it; 404 when they may not (rule 3: never 403)."""
    found = await repo.get_with_membership(conn, channel_id, principal.id)
    if found is None:
        raise channel_not_found()
    channel, membership = found
    visible = membership is not None or (channel["type"] == "public" and sees_public(principal))
    if not visible:
        raise channel_not_found()
    return ChannelAccess(channel, membership)


def check_can_post(access: ChannelAccess, principal: Principal) -> None:
    channel = access.channel
    if not access.is_member:
        raise Forbidden("Join the channel to post in it", code="not_channel_member")
    if channel["archived_at"] is not None:
        raise Forbidden("The channel is archived", code="channel_archived")
    if channel["read_only"]:
        raise Forbidden("The channel is read-only", code="channel_read_only")
    kind = channel["type"]
    if kind == "announcement":
        if not (
            access.is_channel_admin
            or rbac.has_permission(principal.role, "message:post_announcement")
        ):
            raise Forbidden(
                "Only admins post in announcement channels", code="announcement_only_admins"
            )
    elif kind == "public":
        rbac.check_permission(principal.role, "message:post_public")
    else:
        rbac.check_permission(principal.role, "message:post_private")


def check_can_manage(access: ChannelAccess, principal: Principal) -> None:
    if not (access.is_channel_admin or rbac.has_permission(principal.role, "channel:update_any")):
        raise Forbidden(
            "Only channel admins and workspace admins can do this", code="not_channel_admin"
        )


def check_active(access: ChannelAccess) -> None:
    if access.channel["archived_at"] is not None:
        raise Forbidden("The channel is archived", code="channel_archived")


# -- reads -------------------------------------------------------------------


async def channel_out(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal
) -> ChannelOut:
    fields = await repo.channel_view(
        conn, channel_id, principal.id, see_public=sees_public(principal)
    )
    if fields is None:
        raise channel_not_found()
    await _add_dm_members(conn, [fields])
    return ChannelOut.model_validate(fields)


async def list_channels(
    conn: AsyncConnection, query: ChannelQuery, principal: Principal
) -> ChannelList:
    return ChannelList.model_validate(await list_channel_fields(conn, query, principal))


async def list_channel_fields(
    conn: AsyncConnection,
    query: ChannelQuery,
    principal: Principal,
    *,
    copies: listing.ListCopies | None = None,
) -> dict[str, Any]:
    """The page as plain fields (ChannelList's shape). The REST list serializes these
    directly: a user in 500 channels would otherwise spend longer building and serializing
    models than the database spends on the query. `copies`: what this process keeps for
    channel lists (decisions 0022, 0023)."""
    filters = repo.ListFilters(
        me=principal.id,
        see_public=sees_public(principal),
        type_=query.type,
        q=query.q,
        member=query.member,
        archived=query.archived,
        after=query.cursor,
        limit=query.limit + 1,
    )
    listed = await listing.list_channels(conn, filters, copies=copies)
    more = len(listed) > query.limit
    listed = listed[: query.limit]
    await _add_dm_members(conn, listed)
    return {"channels": listed, "next_cursor": listed[-1]["id"] if more and listed else None}


async def _add_dm_members(conn: AsyncConnection, channels: list[dict[str, Any]]) -> None:
    """Completes listed channels to ChannelOut's fields: who each DM is with."""
    dm_ids = [uuid.UUID(c["id"]) for c in channels if c["type"] in DM_TYPES]
    dm = {str(k): v for k, v in (await repo.dm_members(conn, dm_ids)).items()}
    for channel in channels:
        members = dm.get(channel["id"])
        channel["dm_members"] = (
            [
                {
                    "id": str(u["id"]),
                    "username": u["username"],
                    "name": u["display_name"] or u["username"],
                }
                for u in members
            ]
            if members is not None
            else None
        )


# -- writes ------------------------------------------------------------------


async def _check_users_exist(conn: AsyncConnection, user_ids: list[uuid.UUID]) -> None:
    live = await repo.live_user_ids(conn, user_ids)
    missing = [str(u) for u in user_ids if u not in live]
    if missing:
        raise NotFound("No such user", code="user_not_found", details={"user_ids": missing})


async def do_create_channel(
    conn: AsyncConnection, body: ChannelCreate, principal: Principal
) -> uuid.UUID:
    rbac.check_permission(principal.role, "channel:create")
    if body.type == "announcement":
        rbac.check_permission(principal.role, "message:post_announcement")
    others = sorted({u for u in body.member_ids if u != principal.id})
    await _check_users_exist(conn, others)
    if await repo.name_taken(conn, body.name, except_id=None):
        raise Conflict("A channel with that name exists", code="channel_name_taken")
    try:
        async with conn.begin_nested():
            channel = await repo.insert_channel(
                conn,
                {
                    "id": uuid7(),
                    "type": body.type,
                    "name": body.name,
                    "topic": body.topic,
                    "description": body.description,
                    "read_only": body.read_only,
                    "created_by": principal.id,
                },
            )
    except IntegrityError as exc:  # a concurrent create took the name first
        raise Conflict("A channel with that name exists", code="channel_name_taken") from exc
    await repo.add_members(conn, channel["id"], [principal.id], role="admin")
    await repo.add_members(conn, channel["id"], others)
    await emit_channel(conn, "channel.created", channel["id"], actor=principal)
    return uuid.UUID(str(channel["id"]))


async def do_open_dm(
    conn: AsyncConnection, user_ids: list[uuid.UUID], principal: Principal
) -> tuple[uuid.UUID, bool]:
    """Find or create the DM of exactly these people (the caller included).

    Returns (channel id, created). The unique dm_key makes concurrent calls converge on one
    channel: the loser of the insert race reads the winner's row."""
    rbac.check_permission(principal.role, "direct:create")
    people = sorted({*user_ids, principal.id})
    if len(people) > MAX_GROUP_MEMBERS:
        raise BadRequest(
            f"A group DM has at most {MAX_GROUP_MEMBERS} people",
            code="too_many_members",
            details={"max": MAX_GROUP_MEMBERS},
        )
    await _check_users_exist(conn, [u for u in people if u != principal.id])
    kind = "direct" if len(people) <= 2 else "group"
    dm_key = f"{kind}:" + ",".join(str(u) for u in people)
    existing = await repo.get_by_dm_key(conn, dm_key)
    if existing is not None:
        return existing["id"], False
    created = await repo.insert_dm(
        conn,
        {
            "id": uuid7(),
            "type": kind,
            "dm_key": dm_key,
            "created_by": principal.id,
        },
    )
    if created is None:
        existing = await repo.get_by_dm_key(conn, dm_key)
        assert existing is not None  # the conflicting row committed before ours was refused
        return existing["id"], False
    await repo.add_members(conn, created["id"], people)
    await emit_channel(conn, "channel.created", created["id"], actor=principal)
    return created["id"], True


async def do_update_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, patch: ChannelPatch, principal: Principal
) -> None:
    access = await get_access(conn, channel_id, principal)
    check_can_manage(access, principal)
    fields = patch.model_dump(exclude_unset=True)
    if access.channel["type"] in DM_TYPES and fields:
        raise Conflict("Direct messages have no settings to change", code="channel_is_dm")
    for key in ("name", "topic", "description", "read_only", "archived"):
        if key in fields and fields[key] is None:
            raise BadRequest(f"{key} cannot be null", code="validation_error")
    # Only what really changes: a PATCH repeating the current values writes no event.
    values: dict[str, Any] = {
        k: fields[k]
        for k in ("topic", "description", "read_only")
        if k in fields and fields[k] != access.channel[k]
    }
    if "name" in fields and fields["name"] != access.channel["name"]:
        if await repo.name_taken(conn, fields["name"], except_id=access.id):
            raise Conflict("A channel with that name exists", code="channel_name_taken")
        values["name"] = fields["name"]
    if "archived" in fields:
        if fields["archived"] and access.channel["archived_at"] is None:
            values["archived_at"] = _now()
        elif not fields["archived"]:
            values["archived_at"] = None
    if values:
        try:
            async with conn.begin_nested():
                await repo.update_channel(conn, access.id, values)
        except IntegrityError as exc:
            raise Conflict("A channel with that name exists", code="channel_name_taken") from exc
        archiving = values.get("archived_at") is not None
        await emit_channel(
            conn, "channel.archived" if archiving else "channel.updated", access.id, actor=principal
        )
        was_archived = access.channel["archived_at"] is not None
        if "archived_at" in values and archiving != was_archived:
            await audit_archive(conn, access.channel, archived=archiving, actor=principal)


async def do_archive(conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal) -> None:
    access = await get_access(conn, channel_id, principal)
    if access.channel["type"] in DM_TYPES:
        raise Conflict("Direct messages cannot be archived", code="channel_is_dm")
    check_can_manage(access, principal)
    if access.channel["archived_at"] is None:
        await repo.update_channel(conn, access.id, {"archived_at": _now()})
        await emit_channel(conn, "channel.archived", access.id, actor=principal)
        await audit_archive(conn, access.channel, archived=True, actor=principal)


async def audit_archive(
    conn: AsyncConnection,
    channel: RowMapping,
    *,
    archived: bool,
    actor: Principal,
    ip: str | None = None,
) -> None:
    """Archiving is audited whoever does it, a channel admin here or a workspace admin."""
    await audit(
        conn,
        "channel.archived" if archived else "channel.unarchived",
        actor_id=actor.id,
        target_type="channel",
        target_id=str(channel["id"]),
        ip=ip,
        details={
            "name": channel["name"],
            "type": channel["type"],
            "before": {"archived": not archived},
            "after": {"archived": archived},
        },
    )


async def do_join(conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal) -> None:
    access = await get_access(conn, channel_id, principal)
    if access.is_member:
        return
    if access.channel["type"] != "public":
        raise channel_not_found()
    rbac.check_permission(principal.role, "channel:join_public")
    check_active(access)
    added = await repo.add_members(conn, access.id, [principal.id])
    await _emit_joined(conn, access.id, added, actor=principal)


async def do_leave(conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal) -> None:
    access = await get_access(conn, channel_id, principal)
    if not access.is_member:
        raise Conflict("You are not a member of this channel", code="not_channel_member")
    if access.channel["type"] == "direct":
        raise Conflict("A direct message cannot be left", code="channel_is_dm")
    await repo.remove_member(conn, access.id, principal.id)
    await _emit_left(conn, access.id, principal.id, actor=principal)


async def do_add_members(
    conn: AsyncConnection, channel_id: uuid.UUID, user_ids: list[uuid.UUID], principal: Principal
) -> list[uuid.UUID]:
    access = await get_access(conn, channel_id, principal)
    if access.channel["type"] in DM_TYPES:
        raise Conflict("A DM's members are fixed; open a new DM instead", code="channel_is_dm")
    check_active(access)
    moderator = rbac.has_permission(principal.role, "channel:manage_members_any")
    if not moderator:
        if not access.is_member:
            raise Forbidden("Join the channel to add people to it", code="not_channel_member")
        rbac.check_permission(principal.role, "channel:add_members")
    wanted = sorted(set(user_ids))
    await _check_users_exist(conn, wanted)
    added = await repo.add_members(conn, access.id, wanted)
    await _emit_joined(conn, access.id, added, actor=principal)
    return added


async def do_remove_member(
    conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID, principal: Principal
) -> None:
    if user_id == principal.id:
        await do_leave(conn, channel_id, principal)
        return
    access = await get_access(conn, channel_id, principal)
    if access.channel["type"] in DM_TYPES:
        raise Conflict("A DM's members are fixed", code="channel_is_dm")
    if not (
        access.is_channel_admin or rbac.has_permission(principal.role, "channel:manage_members_any")
    ):
        raise Forbidden(
            "Only channel admins and moderators remove members", code="not_channel_admin"
        )
    if not await repo.remove_member(conn, access.id, user_id):
        raise NotFound("That user is not a member", code="member_not_found")
    await _emit_left(conn, access.id, user_id, actor=principal)


async def do_set_member_role(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    principal: Principal,
) -> None:
    access = await get_access(conn, channel_id, principal)
    if access.channel["type"] in DM_TYPES:
        raise Conflict("DMs have no channel roles", code="channel_is_dm")
    check_can_manage(access, principal)
    member = await repo.get_membership(conn, access.id, user_id)
    if member is None:
        raise NotFound("That user is not a member", code="member_not_found")
    if member["role"] == role:
        return  # nothing changes, nothing to tell anyone
    await repo.set_member_role(conn, access.id, user_id, role)
    await log.emit(
        conn,
        "member.updated",
        MemberChanged(channel_id=access.id, user_id=user_id, role=role),
        channel_id=access.id,
        actor_id=principal.id,
    )


async def list_members(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    principal: Principal,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> MemberList:
    access = await get_access(conn, channel_id, principal)
    rows = await repo.list_members(conn, access.id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return MemberList(
        members=[
            MemberOut(
                user=MemberBrief(
                    id=r["user_id"], username=r["username"], name=r["display_name"] or r["username"]
                ),
                role=r["role"],
                joined_at=r["joined_at"],
            )
            for r in rows
        ],
        next_cursor=str(rows[-1]["user_id"]) if more and rows else None,
    )


def _now() -> Any:
    # The transaction's time, as PostgreSQL sees it, like every other timestamp.
    return sa.func.now()


# -- events ------------------------------------------------------------------


def channel_info(row: RowMapping) -> ChannelInfo:
    return ChannelInfo(
        id=row["id"],
        type=row["type"],
        name=row["name"],
        topic=row["topic"],
        description=row["description"],
        read_only=row["read_only"],
        archived=row["archived_at"] is not None,
        archived_at=row["archived_at"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        member_count=row["member_count"],
    )


async def emit_channel(
    conn: AsyncConnection, type_: str, channel_id: uuid.UUID, *, actor: Principal
) -> None:
    row = await repo.get(conn, channel_id)
    assert row is not None
    await log.emit(conn, type_, channel_info(row), channel_id=channel_id, actor_id=actor.id)


async def _emit_joined(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    user_ids: list[uuid.UUID],
    *,
    actor: Principal,
) -> None:
    if not user_ids:
        return
    row = await repo.get(conn, channel_id)
    assert row is not None
    info = channel_info(row)
    for user_id in user_ids:
        event = MemberChanged(channel_id=channel_id, user_id=user_id, role="member", channel=info)
        await log.emit(
            conn,
            "member.joined",
            event,
            channel_id=channel_id,
            actor_id=actor.id,
            subject_user_id=user_id,
        )


async def _emit_left(
    conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID, *, actor: Principal
) -> None:
    row = await repo.get(conn, channel_id)
    assert row is not None
    # The channel as it is after the change (member count included): applying the event
    # twice, as a client resuming from a slightly older cursor may, gives the same state.
    event = MemberChanged(channel_id=channel_id, user_id=user_id, channel=channel_info(row))
    # Once for the one who left (no longer a member, they would not otherwise see it), then
    # for the members who stay. In that order: a hub stops delivering the channel to the
    # leaver's sockets on the first, so they do not get the second too.
    await log.emit(
        conn, "member.left", event, channel_id=channel_id, actor_id=actor.id, target_user_id=user_id
    )
    await log.emit(
        conn,
        "member.left",
        event,
        channel_id=channel_id,
        actor_id=actor.id,
        subject_user_id=user_id,
    )
