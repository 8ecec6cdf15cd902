"""First run: create the owner once, then never again."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.accounts.schemas import TokenOut
from nchat.accounts.service import do_start_session
from nchat.admin.service import audit, get_config, update_config
from nchat.config import Settings
from nchat.errors import Conflict
from nchat.setup.schemas import SetupIn
from nchat.users import repository as users_repo
from nchat.users.service import do_create_user

SETUP_LOCK_KEY = 0x6E63686174_01


async def is_completed(conn: AsyncConnection) -> bool:
    config = await get_config(conn)
    return bool(config["setup"].get("completed"))


async def do_setup(
    conn: AsyncConnection, body: SetupIn, *, settings: Settings, user_agent: str | None, ip: str
) -> TokenOut:
    # Serialise concurrent setups: the second waits, then sees the owner and gets 409.
    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SETUP_LOCK_KEY})
    if await is_completed(conn) or await users_repo.count_users(conn) > 0:
        raise Conflict("Setup is already complete", code="setup_completed")
    owner = await do_create_user(
        conn,
        email=str(body.owner.email),
        username=body.owner.username,
        password=body.owner.password,
        display_name=body.owner.display_name,
        role="owner",
        min_password_length=settings.password_min_length,
    )
    changes: dict[str, dict[str, object]] = {
        "setup": {"completed": True, "completed_at": _iso_now()},
        "owner": {"user_id": str(owner["id"]), "email": owner["email"]},
    }
    if body.app_name:
        changes["branding"] = {"app_name": body.app_name}
    await update_config(conn, changes)
    await audit(
        conn,
        "setup.completed",
        actor_id=owner["id"],
        target_type="user",
        target_id=str(owner["id"]),
        ip=ip,
    )
    return await do_start_session(conn, owner, settings=settings, user_agent=user_agent, ip=ip)


def _iso_now() -> str:
    return datetime.now(UTC).isoformat()
