"""The framework's floor: a bare FastAPI + asyncpg endpoint doing only a send's two inserts
(message and event) in one transaction, no auth, no checks. Run by the `send` scenario under
uvicorn with the same worker count as nchat, so nchat's own logic is what the gap shows."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response

from nchat.db.ids import uuid7

MESSAGE = """INSERT INTO nchat_messages (id, channel_id, user_id, text, created_at)
VALUES ($1, $2, $3, $4, $5)"""
EVENT = """INSERT INTO nchat_events (type, channel_id, user_id, data)
VALUES ('message.created', $1, $2, $3::jsonb)"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["FLOOR_DATABASE_URL"], min_size=10, max_size=20
    )
    app.state.user_id = uuid.UUID(os.environ["FLOOR_USER_ID"])
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/api/messages", status_code=201)
async def send(request: Request) -> Response:
    body = orjson.loads(await request.body())
    channel_id = uuid.UUID(body["channel_id"])
    user_id: uuid.UUID = request.app.state.user_id
    message_id = uuid7()
    now = datetime.now(UTC)
    data = orjson.dumps(
        {"id": str(message_id), "channel_id": str(channel_id), "text": body["text"], "at": now}
    )
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        await conn.execute(MESSAGE, message_id, channel_id, user_id, body["text"], now)
        await conn.execute(EVENT, channel_id, user_id, data.decode())
    return Response(data, status_code=201, media_type="application/json")
