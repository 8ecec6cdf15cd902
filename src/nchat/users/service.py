"""Users: creation, profile and role changes, soft deletion, the avatar a user uploaded.
Permission checks via rbac."""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat import cursors
from nchat.admin.service import audit
from nchat.auth import ratelimit, rbac
from nchat.auth.deps import Principal
from nchat.auth.passwords import hash_password, verify_password
from nchat.config import Settings
from nchat.db.ids import uuid7
from nchat.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nchat.realtime import log
from nchat.users import repository
from nchat.users.events import USER_UPDATED
from nchat.users.schemas import ListQuery, UserList, UserOut, UserUpdate

PROFILE_FIELDS = ("display_name", "avatar_url", "timezone", "locale", "status_text")

# An uploaded avatar's URL names a random version: a new picture is a new URL, so browsers
# may keep each one forever, and nobody can guess one they were not shown (decision: the
# route serves it without a token, as browsers load <img src>). Its object in the store is
# `<version>.avatar`; only users' `avatar_url` names it.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UPLOADED_AVATAR = re.compile(rf"/api/users/(?P<user>{_UUID})/avatar/(?P<version>{_UUID})")


def avatar_path(user_id: uuid.UUID, version: uuid.UUID) -> str:
    return f"/api/users/{user_id}/avatar/{version}"


def avatar_key(version: uuid.UUID) -> str:
    return f"{version}.avatar"


def uploaded_avatar(row: RowMapping) -> uuid.UUID | None:
    """The version of the picture the user uploaded; None for none or an external URL (an
    absolute http(s) one, set through the profile)."""
    found = _UPLOADED_AVATAR.fullmatch(row["avatar_url"] or "")
    if found is None or found["user"] != str(row["id"]):
        return None
    return uuid.UUID(found["version"])


def to_out(row: RowMapping, *, viewer: Principal | None) -> UserOut:
    shows_email = (
        viewer is None
        or viewer.id == row["id"]
        or rbac.has_permission(viewer.role, "user:read_email")
    )
    return UserOut(
        id=row["id"],
        username=row["username"],
        name=row["display_name"] or row["username"],
        email=row["email"] if shows_email else None,
        role=row["role"],
        avatar_url=row["avatar_url"],
        timezone=row["timezone"],
        locale=row["locale"],
        status_text=row["status_text"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


def to_public(row: RowMapping) -> UserOut:
    """The user as everyone may see them (no email): what user.updated events carry."""
    return to_out(row, viewer=None).model_copy(update={"email": None})


def check_password_strength(password: str, *, min_length: int) -> None:
    if len(password) < min_length:
        raise ValidationFailed(
            f"The password must have at least {min_length} characters",
            code="password_too_short",
            details={"min_length": min_length},
        )


async def do_create_user(
    conn: AsyncConnection,
    *,
    email: str,
    username: str,
    password: str,
    display_name: str | None,
    role: str,
    min_password_length: int,
) -> RowMapping:
    check_password_strength(password, min_length=min_password_length)
    taken = await repository.exists_username_or_email(conn, username, email)
    if taken is not None:
        raise Conflict(f"That {taken} is already taken", code=f"{taken}_taken")
    values = {
        "id": uuid7(),
        "email": email,
        "username": username,
        "display_name": display_name or username,
        "password_hash": await hash_password(password),
        "role": role,
    }
    try:
        async with conn.begin_nested():
            return await repository.insert(conn, values)
    except IntegrityError as exc:  # lost a race with a concurrent signup of the same name
        raise Conflict("That username or email is already taken", code="username_taken") from exc


async def do_change_password(
    conn: AsyncConnection,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    settings: Settings,
    ip: str,
) -> int:
    """Set the caller's password, proven by the current one; every other session of theirs
    ends (and with it their live streams), this one stays. Returns how many ended.

    A wrong current password counts as a failed sign-in of the account (the same budget):
    a stolen access token must not guess the password faster than the sign-in form can."""
    # Checked first: a weak new password is refused without spending an attempt.
    check_password_strength(new_password, min_length=settings.password_min_length)
    account = ratelimit.account_key(principal.id, "")
    await ratelimit.check_login_allowed(
        conn, account=account, user_id=principal.id, ip=ip, settings=settings
    )
    # Locked: of two changes at once, the second is checked against the first's password.
    row = await repository.get_by_id(conn, principal.id, lock=True)
    if row is None or not await verify_password(row["password_hash"], current_password):
        await ratelimit.record_failure(conn, account=account, ip=ip)
        raise Forbidden(
            "The current password is incorrect", code="wrong_password", keep_writes=True
        )
    await ratelimit.clear_failures(conn, account=account, ip=ip)
    hashed = await hash_password(new_password)
    await repository.update(conn, principal.id, {"password_hash": hashed})
    ended = await repository.revoke_other_sessions(
        conn, principal.id, keep=principal.session_id, reason="password_changed"
    )
    await audit(
        conn,
        "user.password_changed",
        actor_id=principal.id,
        target_type="user",
        target_id=str(principal.id),
        ip=ip,
        details={"sessions_ended": ended},
    )
    return ended


async def get_visible_user(
    conn: AsyncConnection, user_id: uuid.UUID, viewer: Principal
) -> RowMapping:
    rbac.check_permission(viewer.role, "user:read")
    row = await repository.get_by_id(conn, user_id)
    if row is None or (
        row["deleted_at"] is not None and not rbac.has_permission(viewer.role, "user:delete")
    ):
        raise NotFound(code="user_not_found", message="No such user")
    return row


async def list_users(conn: AsyncConnection, query: ListQuery, viewer: Principal) -> UserList:
    rbac.check_permission(viewer.role, "user:read")
    after = cursors.decode_text(query.cursor) if query.cursor else None
    rows = await repository.search(conn, q=query.q, after=after, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = cursors.encode_text(rows[-1]["username"].lower()) if more and rows else None
    return UserList(users=[to_out(r, viewer=viewer) for r in rows], next_cursor=next_cursor)


async def guard_last_owner(conn: AsyncConnection, target: RowMapping) -> None:
    if target["role"] == "owner" and await repository.count_active_owners(conn, lock=True) <= 1:
        raise Conflict(
            "The last owner cannot be removed, demoted or deactivated", code="last_owner"
        )


async def do_update_user(
    conn: AsyncConnection, user_id: uuid.UUID, changes: UserUpdate, actor: Principal
) -> RowMapping:
    target = await get_visible_user(conn, user_id, actor)
    if target["deleted_at"] is not None:
        raise NotFound(code="user_not_found", message="No such user")
    fields = changes.model_dump(exclude_unset=True)
    is_self = target["id"] == actor.id
    profile = {k: v for k, v in fields.items() if k in PROFILE_FIELDS}
    if profile:
        if is_self:
            rbac.check_permission(actor.role, "user:update_self")
        else:
            rbac.check_permission(actor.role, "user:update_any")
            check_manages(actor, target)
    # Only fields that really change: repeating the current values writes no event.
    values: dict[str, Any] = {k: v for k, v in profile.items() if v != target[k]}
    if "display_name" in values and not values["display_name"]:
        values["display_name"] = target["username"]
    for key in ("role", "is_active"):
        if key in fields and fields[key] is None:
            raise ValidationFailed(f"{key} cannot be null", code="validation_error")
    if "role" in fields and fields["role"] != target["role"]:
        rbac.check_permission(actor.role, "user:set_role")
        check_manages(actor, target)
        if not rbac.can_assign(actor.role, fields["role"]):
            raise rbac.role_not_assignable(fields["role"])
        await guard_last_owner(conn, target)
        values["role"] = fields["role"]
    if "is_active" in fields and fields["is_active"] != target["is_active"]:
        rbac.check_permission(actor.role, "user:set_active")
        check_manages(actor, target)
        if not fields["is_active"]:
            await guard_last_owner(conn, target)
            await repository.revoke_all_sessions(conn, target["id"], "deactivated")
        values["is_active"] = fields["is_active"]
    if not values:
        return target
    if "avatar_url" in values:
        # Locked and read again: the avatar it replaces is the one a concurrent upload
        # (do_set_avatar) may have just set, and that one must be released too.
        target = await repository.get_by_id(conn, target["id"], lock=True) or target
    row = await write_profile(conn, target, values, actor=actor)
    if {"role", "is_active"} & values.keys():
        await audit(
            conn,
            "user.updated",
            actor_id=actor.id,
            target_type="user",
            target_id=str(target["id"]),
            details={k: values[k] for k in ("role", "is_active") if k in values},
        )
    return row


async def write_profile(
    conn: AsyncConnection, before: RowMapping, values: dict[str, Any], *, actor: Principal
) -> RowMapping:
    """Write the changes and say them to everyone (user.updated); an uploaded avatar they
    replace goes to the store's removal queue in the same transaction."""
    row = await repository.update(conn, before["id"], values)
    await log.emit(conn, USER_UPDATED, to_public(row), channel_id=None, actor_id=actor.id)
    replaced = uploaded_avatar(before)
    if replaced is not None and replaced != uploaded_avatar(row):
        await repository.queue_object_removal(conn, avatar_key(replaced))
    return row


async def do_set_avatar(
    conn: AsyncConnection, principal: Principal, version: uuid.UUID | None
) -> RowMapping:
    """Show the picture stored as `version` as the caller's avatar (None: no avatar, the
    initials again). The one it replaces leaves the store once this commits."""
    rbac.check_permission(principal.role, "user:update_self")
    row = await repository.get_by_id(conn, principal.id, lock=True)
    if row is None or row["deleted_at"] is not None:
        raise NotFound(code="user_not_found", message="No such user")
    url = avatar_path(row["id"], version) if version is not None else None
    if url == row["avatar_url"]:
        return row
    return await write_profile(conn, row, {"avatar_url": url}, actor=principal)


async def get_avatar(conn: AsyncConnection, user_id: uuid.UUID, version: uuid.UUID) -> str:
    """The store key of the user's avatar at that version; 404 for any other version (an
    older one included: its URL ended when the picture changed)."""
    row = await repository.get_by_id(conn, user_id)
    if row is None or uploaded_avatar(row) != version:
        raise avatar_not_found()
    return avatar_key(version)


def avatar_not_found() -> NotFound:
    return NotFound("No such avatar", code="avatar_not_found")


def check_manages(actor: Principal, target: RowMapping) -> None:
    if target["id"] != actor.id and not rbac.can_manage(actor.role, target["role"]):
        raise Forbidden(code="forbidden", message="You cannot change this user")


async def do_delete_user(conn: AsyncConnection, user_id: uuid.UUID, actor: Principal) -> None:
    rbac.check_permission(actor.role, "user:delete")
    target = await get_visible_user(conn, user_id, actor)
    if target["deleted_at"] is not None:
        raise NotFound(code="user_not_found", message="No such user")
    check_manages(actor, target)
    await guard_last_owner(conn, target)
    row = await repository.update(
        conn, target["id"], {"deleted_at": sa.func.now(), "is_active": False}
    )
    await log.emit(conn, USER_UPDATED, to_public(row), channel_id=None, actor_id=actor.id)
    await repository.revoke_all_sessions(conn, target["id"], "user_deleted")
    await audit(
        conn, "user.deleted", actor_id=actor.id, target_type="user", target_id=str(target["id"])
    )
