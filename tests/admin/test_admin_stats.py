"""GET /api/admin/stats against seeded data: active users, messages per day, storage, sockets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.admin.test_admin_users import set_last_used
from tests.files.helpers import uploaded
from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api


async def test_stats_count_what_was_seeded(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    fresh = await make_user()
    week = await make_user()
    month = await make_user()
    old = await make_user()
    gone = await make_user()
    off = await make_user(active=False)
    await set_last_used(engine, week, 3)
    await set_last_used(engine, month, 20)
    await set_last_used(engine, old, 45)
    await set_last_used(engine, off, 45)
    assert (await client.delete(f"/api/users/{gone.id}", headers=admin.headers)).status_code == 204

    channel = await api.create_channel(admin, "general", members=(fresh,))
    sent = [await api.send(fresh, channel["id"], f"m{n}") for n in range(6)]
    async with engine.begin() as conn:
        for message, days in ((sent[0], 2), (sent[1], 2), (sent[2], 29), (sent[3], 31)):
            await conn.execute(
                sa.text(
                    "UPDATE nchat_messages SET created_at = now() - make_interval(days => :d) "
                    "WHERE id = :id"
                ),
                {"d": days, "id": message["id"]},
            )
        # Sockets: two of one user's and one of another's are open; one was left stale.
        now = datetime.now(UTC)
        for user_id, seen in (
            (fresh.id, now),
            (fresh.id, now),
            (week.id, now),
            (fresh.id, now - timedelta(minutes=10)),
        ):
            await conn.execute(
                sa.text(
                    "INSERT INTO nchat_presence (connection_id, user_id, last_seen) "
                    "VALUES (:c, :u, :s)"
                ),
                {"c": uuid.uuid4(), "u": user_id, "s": seen},
            )
    await uploaded(client, fresh, b"x" * 1000, "a.txt")
    await uploaded(client, fresh, b"y" * 234, "b.txt")

    r = await client.get("/api/admin/stats", headers=admin.headers)
    assert r.status_code == 200, r.text
    stats = r.json()
    # Six live accounts besides `gone`; `off` is deactivated. Seen within a day: admin,
    # fresh (and, by its socket, week); within 7 days: week too; within 30: month too.
    assert stats["users"] == {
        "total": 6,
        "active": 5,
        "active_1d": 3,
        "active_7d": 3,
        "active_30d": 4,
    }
    days = stats["messages_per_day"]
    assert len(days) == 30
    today = datetime.now(UTC).date()
    assert days[-1] == {"date": today.isoformat(), "count": 2}
    assert days[0]["date"] == (today - timedelta(days=29)).isoformat()
    by_date = {d["date"]: d["count"] for d in days}
    assert by_date[(today - timedelta(days=2)).isoformat()] == 2
    assert by_date[(today - timedelta(days=29)).isoformat()] == 1
    assert sum(by_date.values()) == 5  # the one of 31 days ago is outside
    assert stats["storage"] == {"files_bytes": 1234, "files": 2}
    assert stats["sockets"] == {"open": 3, "users_online": 2, "this_process": 0}


async def test_stats_are_for_admins(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    owner = await make_user("owner")
    member = await make_user()
    assert (await client.get("/api/admin/stats", headers=owner.headers)).status_code == 200
    r = await client.get("/api/admin/stats", headers=member.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (await client.get("/api/admin/stats")).status_code == 401
