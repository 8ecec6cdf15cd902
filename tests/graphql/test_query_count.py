from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The engine is shared with the process's hub, which tails the event log on its own
        # schedule: its reads are not the request's.
        if "nchat_events" not in statement and "pg_snapshot_xmin" not in statement:
            seen.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_200_messages_with_users_and_reactions_in_bounded_statements(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    app: FastAPI,
    engine: AsyncEngine,
) -> None:
    people = [await make_user() for _ in range(5)]
    channel = await api.create_channel(people[0], "busy", members=tuple(people[1:]))
    cid = channel["id"]
    async with engine.begin() as conn:
        # 200 messages by five authors, each with reactions from two people.
        await conn.execute(
            sa.text(
                "INSERT INTO nchat_messages (id, channel_id, user_id, text) "
                "SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-8000-000000000000')::uuid, "
                "       :c, (ARRAY[:u0, :u1, :u2, :u3, :u4]::uuid[])[1 + i % 5], 'm' || i "
                "FROM generate_series(1, 200) i"
            ),
            {"c": cid, **{f"u{i}": str(p.id) for i, p in enumerate(people)}},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO nchat_reactions (message_id, user_id, emoji) "
                "SELECT m.id, u.id, e FROM nchat_messages m, "
                "  (SELECT unnest(ARRAY[:u0, :u1]::uuid[]) AS id) u, unnest(ARRAY[':a:', ':b:']) e "
                "WHERE m.channel_id = :c"
            ),
            {"c": cid, "u0": str(people[0].id), "u1": str(people[1].id)},
        )

    query = """query($c: ID!) { messages(channelId: $c, limit: 200) {
        id text user { id name username } reactions { emoji count me } } }"""
    with count_statements(app.state.engine) as statements:
        r = await client.post(
            "/graphql", headers=people[0].headers, json={"query": query, "variables": {"c": cid}}
        )
    body = r.json()
    assert "errors" not in body, body
    assert len(body["data"]["messages"]) == 200
    assert {len(m["reactions"]) for m in body["data"]["messages"]} == {2}
    assert len({m["user"]["id"] for m in body["data"]["messages"]}) == 5
    # Auth, channel access, the page, its reactions, its authors: a handful, not 200+.
    assert len(statements) <= 8, statements
