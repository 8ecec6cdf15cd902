"""The admin's user management: listing with filters, deactivation, roles, ending sessions,
password resets, deletion with anonymisation, and the server's statistics.

The rules are the users feature's (who may manage whom, the last owner); ending sessions
marks the user changed, so every node closes their live streams after commit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat import cursors
from nchat.admin.service import audit
from nchat.admin_users import repository
from nchat.admin_users.schemas import (
    AdminUserList,
    AdminUserOut,
    AdminUserQuery,
    DayCount,
    ResetPasswordOut,
    SocketCounts,
    StatsOut,
    StorageUse,
    UserCounts,
)
from nchat.auth import ratelimit, rbac
from nchat.auth.deps import Principal
from nchat.auth.passwords import hash_password
from nchat.config import Settings
from nchat.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from nchat.exports import repository as exports_repo
from nchat.notifications import links, mailer
from nchat.realtime import log
from nchat.users import repository as users_repo
from nchat.users import service as users_service
from nchat.users.events import USER_UPDATED

# Opens a transaction of its own (committed when the block ends).
Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

RESET_TTL_S = 3600
STATS_DAYS = 30
ANONYMOUS_NAME = "Deleted user"
MAIL_STEP_TIMEOUT_S = 10.0
_RESET_KEY_LABEL = b"nchat password reset v1"


def to_admin_out(row: RowMapping) -> AdminUserOut:
    return AdminUserOut(
        id=row["id"],
        username=row["username"],
        name=row["display_name"] or row["username"],
        email=row["email"],
        role=row["role"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        session_count=row["session_count"],
    )


async def list_users(
    conn: AsyncConnection, query: AdminUserQuery, actor: Principal
) -> AdminUserList:
    rbac.check_permission(actor.role, "user:admin")
    before = _cursor_id(query.cursor) if query.cursor else None
    rows = await repository.search(
        conn,
        role=query.role,
        active=query.active,
        seen_before=query.seen_before,
        seen_after=query.seen_after,
        q=query.q,
        before_id=before,
        limit=query.limit + 1,
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = cursors.encode_text(str(rows[-1]["id"])) if more and rows else None
    return AdminUserList(users=[to_admin_out(r) for r in rows], next_cursor=next_cursor)


def _cursor_id(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(cursors.decode_text(cursor))
    except ValueError as exc:
        raise cursors.invalid_cursor() from exc


async def get_user(conn: AsyncConnection, user_id: uuid.UUID, actor: Principal) -> AdminUserOut:
    await _target(conn, user_id, actor, lock=False, themselves=True)
    return to_admin_out(await repository.summary(conn, user_id))


async def _target(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    actor: Principal,
    *,
    lock: bool = True,
    themselves: bool = False,
) -> RowMapping:
    """A live user the actor may manage, locked for the change. Not the actor, unless
    `themselves`: their own account is changed from their settings (an admin action on it
    would sign them out, demote or delete them half way through what they were doing)."""
    rbac.check_permission(actor.role, "user:admin")
    if user_id == actor.id and not themselves:
        raise Conflict(
            code="own_account",
            message="Change your own account from your settings, not the admin pages",
        )
    row = await users_repo.get_by_id(conn, user_id, lock=lock)
    if row is None or row["deleted_at"] is not None:
        raise NotFound(code="user_not_found", message="No such user")
    users_service.check_manages(actor, row)
    return row


async def _audit(
    conn: AsyncConnection, action: str, actor: Principal, target: uuid.UUID, ip: str, **details: Any
) -> None:
    await audit(
        conn,
        action,
        actor_id=actor.id,
        target_type="user",
        target_id=str(target),
        ip=ip,
        details=details,
    )


async def do_set_active(
    conn: AsyncConnection, user_id: uuid.UUID, actor: Principal, *, active: bool, ip: str
) -> AdminUserOut:
    """Deactivation ends every session of the user, and with them their live streams on
    every node; reactivation lets them sign in again (old sessions stay ended)."""
    target = await _target(conn, user_id, actor)
    rbac.check_permission(actor.role, "user:set_active")
    if target["is_active"] != active:
        ended = 0
        if not active:
            await users_service.guard_last_owner(conn, target)
            ended = await repository.count_live_sessions(conn, user_id)
            await users_repo.revoke_all_sessions(conn, user_id, "deactivated")
        await users_service.write_profile(conn, target, {"is_active": active}, actor=actor)
        await _audit(
            conn,
            "user.deactivated" if not active else "user.reactivated",
            actor,
            user_id,
            ip,
            before={"is_active": target["is_active"]},
            after={"is_active": active},
            sessions_ended=ended,
        )
    return to_admin_out(await repository.summary(conn, user_id))


async def do_set_role(
    conn: AsyncConnection, user_id: uuid.UUID, actor: Principal, *, role: str, ip: str
) -> AdminUserOut:
    target = await _target(conn, user_id, actor)
    rbac.check_permission(actor.role, "user:set_role")
    if role != target["role"]:
        if not rbac.can_assign(actor.role, role):
            raise rbac.role_not_assignable(role)
        await users_service.guard_last_owner(conn, target)
        await users_service.write_profile(conn, target, {"role": role}, actor=actor)
        await _audit(
            conn,
            "user.role_changed",
            actor,
            user_id,
            ip,
            before={"role": target["role"]},
            after={"role": role},
        )
    return to_admin_out(await repository.summary(conn, user_id))


async def do_revoke_sessions(
    conn: AsyncConnection, user_id: uuid.UUID, actor: Principal, *, ip: str
) -> int:
    """End every session of the user."""
    await _target(conn, user_id, actor)
    ended = await repository.count_live_sessions(conn, user_id)
    await users_repo.revoke_all_sessions(conn, user_id, "revoked_by_admin")
    await _audit(conn, "user.sessions_revoked", actor, user_id, ip, sessions_ended=ended)
    return ended


async def do_reset_password(
    transaction: Transaction,
    user_id: uuid.UUID,
    actor: Principal,
    *,
    method: str | None,
    settings: Settings,
    ip: str,
) -> ResetPasswordOut:
    """By email: a signed link that works once, for RESET_TTL_S; the user's sessions end
    when they use it. Otherwise: a temporary password for the admin to pass on, and every
    session ends now.

    The email goes out after commit, on no connection: a slow mail server (each SMTP step
    may take MAIL_STEP_TIMEOUT_S) must not hold the user's row, nor a pooled connection.
    The admin still waits for it, so the answer says whether the email left: a failure is
    503 `mail_failed`, audited, and asking again sends a new link (the links are not
    stored; each works until it expires or the password changes)."""
    async with transaction() as conn:
        target = await _target(conn, user_id, actor)
        chosen = method or ("email" if mailer.configured(settings) else "temporary_password")
        if chosen == "temporary_password":
            return await _reset_to_temporary(conn, target, actor, settings=settings, ip=ip)
        if not mailer.configured(settings):
            raise Conflict("Email is not configured on this server", code="email_not_configured")
        expires = int(time.time()) + RESET_TTL_S
        mail = _reset_mail(
            settings, target, reset_token(target, expires, secret=settings.jwt_secret)
        )
        await _audit(conn, "user.password_reset_sent", actor, user_id, ip, method="email")
    try:
        await mailer.send(settings, mail, step_timeout_s=MAIL_STEP_TIMEOUT_S)
    except mailer.MailError as exc:
        async with transaction() as conn:
            await _audit(
                conn, "user.password_reset_mail_failed", actor, user_id, ip, error=str(exc)
            )
        raise ServiceUnavailable(
            "The reset email could not be sent", code="mail_failed", details={"error": str(exc)}
        ) from exc
    return ResetPasswordOut(
        method="email", expires_at=datetime.fromtimestamp(expires, UTC), sessions_ended=0
    )


async def _reset_to_temporary(
    conn: AsyncConnection, target: RowMapping, actor: Principal, *, settings: Settings, ip: str
) -> ResetPasswordOut:
    password = secrets.token_urlsafe(max(12, settings.password_min_length))
    ended = await _set_password(conn, target, password, reason="password_reset")
    await _audit(
        conn,
        "user.password_reset",
        actor,
        target["id"],
        ip,
        method="temporary_password",
        sessions_ended=ended,
    )
    return ResetPasswordOut(
        method="temporary_password", temporary_password=password, sessions_ended=ended
    )


async def _set_password(
    conn: AsyncConnection, target: RowMapping, password: str, *, reason: str
) -> int:
    ended = await repository.count_live_sessions(conn, target["id"])
    await users_repo.update(conn, target["id"], {"password_hash": await hash_password(password)})
    await users_repo.revoke_all_sessions(conn, target["id"], reason)
    # A locked-out account is let in again with its new password.
    account = ratelimit.account_key(target["id"], "")
    await ratelimit.clear_account_failures(conn, account=account)
    return ended


def reset_token(user: RowMapping, expires: int, *, secret: str) -> str:
    """`<user id>.<expiry>.<mac>`. The MAC covers the password hash too: once the password
    changes (by this link or any other way) every link sent before stops working."""
    body = f"{user['id']}.{expires}"
    return f"{body}.{_reset_mac(body, user['password_hash'], secret)}"


def _reset_mac(body: str, password_hash: str, secret: str) -> str:
    key = hmac.new(secret.encode(), _RESET_KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(key, f"{body}.{password_hash}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _reset_mail(settings: Settings, user: RowMapping, token: str) -> EmailMessage:
    link = f"{links.base_url(settings)}/#/reset-password/{token}"
    message = EmailMessage()
    message["To"] = user["email"]
    message["Subject"] = "Reset your nchat password"
    message.set_content(
        f"Hello {user['display_name'] or user['username']},\n\n"
        "An administrator asked for your password to be reset. Choose a new one here:\n\n"
        f"{link}\n\n"
        f"The link works once, within {RESET_TTL_S // 60} minutes. Once you set a new "
        "password, you are signed out everywhere.\n"
    )
    return message


def invalid_reset_token() -> BadRequest:
    return BadRequest("The reset link is not valid or has expired", code="invalid_reset_token")


async def do_complete_password_reset(
    conn: AsyncConnection, *, token: str, new_password: str, settings: Settings, ip: str
) -> None:
    users_service.check_password_strength(new_password, min_length=settings.password_min_length)
    user_text, _, rest = token.partition(".")
    expires_text, _, mac = rest.partition(".")
    try:
        user_id = uuid.UUID(user_text)
    except ValueError as exc:
        raise invalid_reset_token() from exc
    if not (expires_text.isascii() and expires_text.isdigit()) or int(expires_text) < time.time():
        raise invalid_reset_token()
    # Checked unlocked first, so a forged token cannot hold anyone's row; then again
    # locked: of two uses of one link at once, the second sees the first's password.
    signed = f"{user_text}.{expires_text}"
    await _reset_user(conn, user_id, signed, mac, settings, lock=False)
    user = await _reset_user(conn, user_id, signed, mac, settings, lock=True)
    ended = await _set_password(conn, user, new_password, reason="password_reset")
    await audit(
        conn,
        "user.password_reset_completed",
        actor_id=user_id,
        target_type="user",
        target_id=str(user_id),
        ip=ip,
        details={"sessions_ended": ended},
    )


async def _reset_user(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    signed: str,
    mac: str,
    settings: Settings,
    *,
    lock: bool,
) -> RowMapping:
    user = await users_repo.get_by_id(conn, user_id, lock=lock)
    if user is None or user["deleted_at"] is not None or not user["is_active"]:
        raise invalid_reset_token()
    expected = _reset_mac(signed, user["password_hash"], settings.jwt_secret)
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise invalid_reset_token()
    return user


def anonymous_values(user_id: uuid.UUID) -> dict[str, Any]:
    """What replaces a deleted person's details: nothing that names them, and an email and
    username of the account's own (the real ones are free for a new account)."""
    return {
        "username": f"deleted-{user_id.hex[-24:]}",
        "email": f"deleted-{user_id}@anonymised.invalid",
        "display_name": ANONYMOUS_NAME,
        "avatar_url": None,
        "status_text": None,
        "timezone": None,
        "locale": None,
        # No password hashes to this: nobody can sign in as the account.
        "password_hash": "!",
        "is_active": False,
    }


async def do_delete_user(
    conn: AsyncConnection, user_id: uuid.UUID, actor: Principal, *, anonymise: bool, ip: str
) -> None:
    """Without `anonymise`, the users feature's soft deletion. With it, the account also
    loses everything that names the person; their messages stay, shown as from
    "Deleted user". An account deleted earlier can be anonymised later."""
    rbac.check_permission(actor.role, "user:admin")
    if user_id == actor.id:
        raise Conflict(code="own_account", message="An admin does not delete themselves here")
    if not anonymise:
        await users_service.do_delete_user(conn, user_id, actor)
        return
    rbac.check_permission(actor.role, "user:delete")
    target = await users_repo.get_by_id(conn, user_id, lock=True)
    if target is None or target["email"] == anonymous_values(user_id)["email"]:
        raise NotFound(code="user_not_found", message="No such user")
    users_service.check_manages(actor, target)
    if target["deleted_at"] is None:
        await users_service.guard_last_owner(conn, target)
    values = anonymous_values(user_id)
    if target["deleted_at"] is None:
        values["deleted_at"] = datetime.now(UTC)
    await repository.erase_personal_data(conn, user_id)
    # Zips of their data made earlier would outlive the erasure: the sweep removes them.
    await exports_repo.supersede_older(conn, user_id)
    row = await users_repo.update(conn, user_id, values)
    profile = users_service.to_public(row)
    await log.emit(conn, USER_UPDATED, profile, channel_id=None, actor_id=actor.id)
    author = {"id": str(user_id), "username": row["username"], "name": row["display_name"]}
    await log.redact_user(conn, user_id, profile=profile, author=author)
    replaced = users_service.uploaded_avatar(target)
    if replaced is not None:
        await users_repo.queue_object_removal(conn, users_service.avatar_key(replaced))
    # No personal data in the entry: it outlives the account.
    await _audit(
        conn,
        "user.anonymised",
        actor,
        user_id,
        ip,
        before={"role": target["role"], "deleted": target["deleted_at"] is not None},
        after={"deleted": True},
    )


async def stats(conn: AsyncConnection, actor: Principal, *, this_process: int) -> StatsOut:
    rbac.check_permission(actor.role, "stats:read")
    now = datetime.now(UTC)
    today = now.date()
    first = today - timedelta(days=STATS_DAYS - 1)
    per_day = await repository.messages_per_day(conn, first)
    sockets, online = await repository.open_sockets(conn)
    return StatsOut(
        users=UserCounts(**await repository.user_counts(conn, now)),
        messages_per_day=[
            DayCount(date=day, count=per_day.get(day, 0))
            for day in (first + timedelta(days=n) for n in range(STATS_DAYS))
        ],
        storage=StorageUse(**await repository.storage_use(conn)),
        sockets=SocketCounts(open=sockets, users_online=online, this_process=this_process),
    )
