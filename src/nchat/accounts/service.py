"""Sign-up, sign-in, refresh rotation with reuse detection, sign-out, sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.accounts.schemas import SessionList, SessionOut, SigninIn, SignupIn, TokenOut
from nchat.admin.service import audit, get_config
from nchat.auth import ratelimit, repository, tokens
from nchat.auth.deps import Principal
from nchat.auth.passwords import hash_password, needs_rehash, verify_password
from nchat.config import Settings
from nchat.db.ids import uuid7
from nchat.errors import Conflict, Forbidden, NotFound, Unauthorized
from nchat.users import repository as users_repo
from nchat.users.service import do_create_user, to_out


async def do_start_session(
    conn: AsyncConnection,
    user: RowMapping,
    *,
    settings: Settings,
    user_agent: str | None,
    ip: str | None,
) -> TokenOut:
    session_id = uuid7()
    refresh = tokens.new_refresh_token(
        session_id, tokens.FIRST_GENERATION, secret=settings.jwt_secret
    )
    await repository.insert_session(
        conn,
        session_id=session_id,
        user_id=user["id"],
        refresh_hash=tokens.hash_refresh_token(refresh),
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s),
        user_agent=(user_agent or "")[:512] or None,
        ip=ip,
    )
    if ip is not None:
        await ratelimit.remember_address(conn, user_id=user["id"], ip=ip)
    return _token_out(user, session_id, refresh, settings)


def _token_out(
    user: RowMapping, session_id: uuid.UUID, refresh: str, settings: Settings
) -> TokenOut:
    access = tokens.issue_access_token(
        secret=settings.jwt_secret,
        user_id=user["id"],
        session_id=session_id,
        ttl_s=settings.access_token_ttl_s,
    )
    return TokenOut(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
        user=to_out(user, viewer=None),
    )


async def do_signup(
    conn: AsyncConnection, body: SignupIn, *, settings: Settings, user_agent: str | None, ip: str
) -> TokenOut:
    config = await get_config(conn)
    if not config["setup"].get("completed"):
        raise Conflict(
            "Finish setup first: POST /api/setup creates the owner", code="setup_required"
        )
    if not config["features"].get("signup_open"):
        raise Forbidden(
            "Sign-up is closed on this server; ask an admin for an account", code="signup_closed"
        )
    user = await do_create_user(
        conn,
        email=str(body.email),
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        role="member",
        min_password_length=settings.password_min_length,
    )
    await audit(
        conn,
        "user.signed_up",
        actor_id=user["id"],
        target_type="user",
        target_id=str(user["id"]),
        ip=ip,
    )
    return await do_start_session(conn, user, settings=settings, user_agent=user_agent, ip=ip)


INVALID_LOGIN = "The login or password is incorrect"


async def do_signin(
    conn: AsyncConnection, body: SigninIn, *, settings: Settings, user_agent: str | None, ip: str
) -> TokenOut:
    login = body.login.strip().lower()
    user = await users_repo.get_by_login(conn, login)
    # Failures count against the account a login names, however it is spelled (username or
    # email, any case), so each spelling does not get a budget of its own.
    user_id = user["id"] if user is not None else None
    account = ratelimit.account_key(user_id, login)
    await ratelimit.check_login_allowed(
        conn, account=account, user_id=user_id, ip=ip, settings=settings
    )
    stored = user["password_hash"] if user is not None else None
    # Always one argon2 verification, so unknown users and wrong passwords look alike.
    ok = await verify_password(stored, body.password)
    if not ok or user is None or not user["is_active"]:
        await ratelimit.record_failure(conn, account=account, ip=ip)
        raise Unauthorized(INVALID_LOGIN, code="invalid_credentials", keep_writes=True)
    await ratelimit.clear_failures(conn, account=account, ip=ip)
    if needs_rehash(user["password_hash"]):
        await users_repo.update(
            conn, user["id"], {"password_hash": await hash_password(body.password)}
        )
    return await do_start_session(conn, user, settings=settings, user_agent=user_agent, ip=ip)


async def do_refresh(conn: AsyncConnection, refresh_token: str, *, settings: Settings) -> TokenOut:
    claims = tokens.parse_refresh_token(refresh_token, secret=settings.jwt_secret)
    invalid = Unauthorized("The refresh token is invalid or expired", code="invalid_refresh_token")
    if claims is None:
        raise invalid
    session_id = claims.session_id
    session = await repository.get_session_for_update(conn, session_id)
    if session is None or session["revoked_at"] is not None:
        raise invalid
    if session["expires_at"] <= datetime.now(UTC):
        raise invalid
    if not tokens.same_hash(session["refresh_hash"], tokens.hash_refresh_token(refresh_token)):
        # Only a token nchat issued for this session at an earlier generation proves a copy:
        # anything else (a session id from an access token plus made-up bytes) is refused
        # and changes nothing, or anyone who saw an access token could end its session.
        if claims.generation is None or claims.generation >= session["generation"]:
            raise invalid
        # A rotated token came back: someone holds a copy. End the whole session.
        await repository.revoke(conn, session_id, reason="refresh_token_reused")
        await audit(
            conn,
            "session.refresh_reuse",
            actor_id=session["user_id"],
            target_type="session",
            target_id=str(session_id),
        )
        raise Unauthorized(
            "This refresh token was already used; the session has been ended",
            code="refresh_token_reused",
            keep_writes=True,
        )
    user = await users_repo.get_by_id(conn, session["user_id"])
    if user is None or user["deleted_at"] is not None or not user["is_active"]:
        raise invalid
    # The row is locked (FOR UPDATE), so this generation is the one `rotate` writes.
    new_refresh = tokens.new_refresh_token(
        session_id, session["generation"] + 1, secret=settings.jwt_secret
    )
    await repository.rotate(
        conn,
        session_id,
        refresh_hash=tokens.hash_refresh_token(new_refresh),
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s),
    )
    return _token_out(user, session_id, new_refresh, settings)


async def do_signout(conn: AsyncConnection, principal: Principal) -> None:
    await repository.revoke(conn, principal.session_id, reason="signed_out")


async def list_sessions(conn: AsyncConnection, principal: Principal) -> SessionList:
    rows = await repository.list_live_sessions(conn, principal.id)
    return SessionList(
        sessions=[
            SessionOut(
                id=r["id"],
                created_at=r["created_at"],
                last_used_at=r["last_used_at"],
                expires_at=r["expires_at"],
                user_agent=r["user_agent"],
                ip=r["ip"],
                current=r["id"] == principal.session_id,
            )
            for r in rows
        ]
    )


async def do_revoke_session(
    conn: AsyncConnection, session_id: uuid.UUID, principal: Principal
) -> None:
    if not await repository.revoke(conn, session_id, reason="revoked", user_id=principal.id):
        raise NotFound(code="session_not_found", message="No such session")
