"""Offline sync: replaying queued operations exactly once, changes since a cursor, device
status, and the first download of a new device."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.sections import offline_messages
from nchat.admin.service import get_config
from nchat.auth.deps import Principal
from nchat.channels import service as channels
from nchat.channels.schemas import ChannelQuery
from nchat.config import Settings
from nchat.errors import NchatError
from nchat.messages import service as messages
from nchat.messages.schemas import MessageCreate
from nchat.realtime import log
from nchat.realtime.cursor import Position
from nchat.realtime.events import ChangesOut
from nchat.sync import repository as repo
from nchat.sync.schemas import (
    BootstrapChannel,
    BootstrapOut,
    ChannelRef,
    EditPayload,
    MessageRef,
    OpResult,
    QueueOut,
    ReactionPayload,
    ReadPayload,
    SendPayload,
    StatusOut,
    SyncOp,
)

PENDING_CAP = 10_000
Result = dict[str, Any] | None
Handler = Callable[[AsyncConnection, SyncOp, Principal], Awaitable[Result]]


def _payload(model: type[BaseModel], op: SyncOp) -> Any:
    return model.model_validate(op.payload)


async def _send(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    p = _payload(SendPayload, op)
    # The operation id doubles as the message's client_id: a message sent online and then
    # replayed from the queue is still one message.
    body = MessageCreate(
        channel_id=p.channel_id, text=p.text, thread_id=p.thread_id, client_id=op.client_op_id
    )
    message, _ = await messages.do_send(conn, body, who)
    return message.model_dump(mode="json")


async def _edit(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    p = _payload(EditPayload, op)
    await messages.do_edit(conn, p.message_id, p.text, who)
    return (await messages.message_out(conn, p.message_id, who)).model_dump(mode="json")


async def _delete(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    await messages.do_delete(conn, _payload(MessageRef, op).message_id, who, hard=False)
    return None


async def _react(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    p = _payload(ReactionPayload, op)
    await messages.do_react(conn, p.message_id, p.emoji, who, add=op.type == "reaction.add")
    return None


async def _read(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    p = _payload(ReadPayload, op)
    state = await messages.do_mark_read(conn, p.channel_id, p.message_id, who)
    return state.model_dump(mode="json")


async def _join(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    await channels.do_join(conn, _payload(ChannelRef, op).channel_id, who)
    return None


async def _leave(conn: AsyncConnection, op: SyncOp, who: Principal) -> Result:
    await channels.do_leave(conn, _payload(ChannelRef, op).channel_id, who)
    return None


HANDLERS: dict[str, Handler] = {
    "message.send": _send,
    "message.edit": _edit,
    "message.delete": _delete,
    "reaction.add": _react,
    "reaction.remove": _react,
    "channel.read": _read,
    "channel.join": _join,
    "channel.leave": _leave,
}


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, NchatError):
        return {"code": exc.code, "message": exc.message, "status": exc.status_code}
    assert isinstance(exc, ValidationError)
    errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
    return {
        "code": "validation_error",
        "message": "The payload is not valid",
        "status": 422,
        "details": {"errors": errors},
    }


def _digest(op: SyncOp) -> str:
    """What the operation is, independent of key order and of when it was queued."""
    what = orjson.dumps([op.type, op.payload], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(what).hexdigest()


def _reused(op: SyncOp) -> OpResult:
    error = {
        "code": "client_op_id_reused",
        "message": "This client_op_id was used for a different operation",
        "status": 409,
        "details": {"client_op_id": op.client_op_id},
    }
    return OpResult(client_op_id=op.client_op_id, status="rejected", error=error)


async def _apply_one(conn: AsyncConnection, op: SyncOp, who: Principal) -> OpResult:
    digest = _digest(op)
    seen = await repo.recorded(conn, who.id, op.client_op_id)
    if seen is None:
        try:
            # One savepoint per operation: a refused one leaves nothing and the rest go on.
            async with conn.begin_nested():
                if await repo.claim(conn, who.id, op.client_op_id, op.type, digest):
                    result = await HANDLERS[op.type](conn, op, who)
                    await repo.finish(conn, who.id, op.client_op_id, result=result)
                    return OpResult(client_op_id=op.client_op_id, status="applied", result=result)
        except (NchatError, ValidationError) as exc:
            error = _error(exc)
            await repo.record_rejected(
                conn, who.id, op.client_op_id, op.type, digest=digest, error=error
            )
            return OpResult(client_op_id=op.client_op_id, status="rejected", error=error)
        seen = await repo.recorded(conn, who.id, op.client_op_id)  # a concurrent replay won
        assert seen is not None
    # The id names another operation: its result is not this one's (and the first stays).
    if seen["digest"] is not None and seen["digest"] != digest:
        return _reused(op)
    return OpResult(
        client_op_id=op.client_op_id, status="duplicate", result=seen["result"], error=seen["error"]
    )


async def apply_queue(conn: AsyncConnection, ops: list[SyncOp], who: Principal) -> QueueOut:
    start = await log.horizon(conn)
    results = [await _apply_one(conn, op, who) for op in ops]
    return QueueOut(results=results, cursor=start.encode())


async def _start(conn: AsyncConnection, since: str | None, settings: Settings) -> Position:
    if since is None:
        return await log.horizon(conn)
    position = Position.decode(since)
    log.check_retention(position, settings.event_retention_s)
    return position


async def changes(
    conn: AsyncConnection, who: Principal, *, since: str | None, limit: int, settings: Settings
) -> ChangesOut:
    after = await _start(conn, since, settings)
    rows, end, more = await log.read(conn, after, limit=limit, user_id=who.id)
    page = log.page_out(rows, end, more)
    await repo.mark_synced(conn, who.session_id, page.cursor, delivered=bool(rows))
    return page


async def status(
    conn: AsyncConnection, who: Principal, *, since: str | None, settings: Settings
) -> StatusOut:
    state = await repo.sync_state(conn, who.session_id)
    cursor = since or (state["last_sync_cursor"] if state else None)
    now = await log.horizon(conn)
    pending = 0
    if cursor is not None:
        rows, _, _ = await log.read(
            conn, await _start(conn, cursor, settings), limit=PENDING_CAP, user_id=who.id
        )
        pending = len(rows)
    config = await get_config(conn)
    return StatusOut(
        cursor=now.encode(),
        server_time=datetime.now(UTC),
        last_sync_at=state["last_sync_at"] if state else None,
        pending_events=pending,
        mobile=config["mobile"],
    )


async def bootstrap(conn: AsyncConnection, who: Principal) -> BootstrapOut:
    # The cursor comes first: whatever changes while the state is read arrives again later.
    cursor = await log.horizon(conn)
    config = await get_config(conn)
    max_messages = offline_messages(config["mobile"])
    listed = await channels.list_channels(conn, ChannelQuery(member=True, limit=1000), who)
    per_channel = max_messages // len(listed.channels) if listed.channels else 0
    rows = await repo.latest_per_channel(
        conn, [c.id for c in listed.channels], min(per_channel, 200)
    )
    rendered = await messages.render(conn, rows, who)
    by_channel: dict[uuid.UUID, list[Any]] = {}
    for message in rendered:
        by_channel.setdefault(message.channel_id, []).append(message)
    return BootstrapOut(
        channels=[
            BootstrapChannel(channel=c, messages=by_channel.get(c.id, [])) for c in listed.channels
        ],
        cursor=cursor.encode(),
        max_messages=max_messages,
    )
