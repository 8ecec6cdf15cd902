from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from nchat import appstate
from nchat.auth.deps import CurrentUser
from nchat.channels.access_cache import ACCESS_CACHE
from nchat.db.transaction import Conn, autocommit
from nchat.errors import TooManyRequests
from nchat.fast_json import json_response
from nchat.limits import limits_of
from nchat.messages import service
from nchat.messages.schemas import (
    DeleteQuery,
    HistoryOut,
    HistoryQuery,
    MessageCreate,
    MessageEdit,
    MessageList,
    MessageOut,
    PageQuery,
    ReactionIn,
    ReadIn,
    ReadOut,
    SavedList,
    SavedQuery,
    ThreadOut,
    ThreadQuery,
)

router = APIRouter(prefix="/api", tags=["messages"])


@router.post("/messages", status_code=201)
@autocommit  # a send's writes are one statement, a reply's one transaction (service.do_send)
async def send(
    body: MessageCreate, principal: CurrentUser, conn: Conn, request: Request, response: Response
) -> MessageOut:
    # Off the request, not a dependency of its own: one less for FastAPI to resolve per send.
    limits = limits_of(request.app)
    try:
        await limits.on(conn).check(limits.rules.send, principal)
    except TooManyRequests:
        # A retry of a send that was written (its answer lost) gets that message, not a
        # refusal: it writes nothing. Looked up only once refused, off the common path.
        sent = await service.sent_before(conn, body, principal)
        if sent is None:
            raise
        response.status_code = 200
        return sent[0]
    accesses = appstate.of(request, ACCESS_CACHE)
    message, created = await service.do_send(conn, body, principal, accesses=accesses)
    response.status_code = 201 if created else 200
    return message


@router.get("/messages/{message_id}")
async def get_message(message_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> MessageOut:
    row, _ = await service.get_visible(conn, message_id, principal)
    return (await service.render(conn, [row], principal))[0]


@router.put("/messages/{message_id}")
async def edit(
    message_id: uuid.UUID, body: MessageEdit, principal: CurrentUser, conn: Conn
) -> MessageOut:
    await service.do_edit(conn, message_id, body.text, principal)
    return await service.message_out(conn, message_id, principal)


@router.delete("/messages/{message_id}", status_code=204)
async def delete(
    message_id: uuid.UUID,
    principal: CurrentUser,
    conn: Conn,
    query: Annotated[DeleteQuery, Query()],
) -> Response:
    await service.do_delete(conn, message_id, principal, hard=query.hard)
    return Response(status_code=204)


@router.get("/messages/{message_id}/history")
async def edit_history(message_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> HistoryOut:
    return await service.edit_history(conn, message_id, principal)


@router.get("/messages/{message_id}/thread")
async def thread(
    message_id: uuid.UUID,
    principal: CurrentUser,
    conn: Conn,
    query: Annotated[ThreadQuery, Query()],
) -> ThreadOut:
    return await service.thread(conn, message_id, principal, after=query.after, limit=query.limit)


@router.post("/messages/{message_id}/reactions")
async def add_reaction(
    message_id: uuid.UUID, body: ReactionIn, principal: CurrentUser, conn: Conn
) -> MessageOut:
    await service.do_react(conn, message_id, body.emoji, principal, add=True)
    return await service.message_out(conn, message_id, principal)


@router.delete("/messages/{message_id}/reactions")
async def remove_reaction(
    message_id: uuid.UUID, body: ReactionIn, principal: CurrentUser, conn: Conn
) -> MessageOut:
    await service.do_react(conn, message_id, body.emoji, principal, add=False)
    return await service.message_out(conn, message_id, principal)


@router.post("/messages/{message_id}/pin")
async def pin(message_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> MessageOut:
    await service.do_pin(conn, message_id, principal, pin=True)
    return await service.message_out(conn, message_id, principal)


@router.delete("/messages/{message_id}/pin")
async def unpin(message_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> MessageOut:
    await service.do_pin(conn, message_id, principal, pin=False)
    return await service.message_out(conn, message_id, principal)


@router.post("/messages/{message_id}/bookmark", status_code=204)
async def bookmark(message_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> Response:
    await service.do_bookmark(conn, message_id, principal, save=True)
    return Response(status_code=204)


@router.delete("/messages/{message_id}/bookmark", status_code=204)
async def unbookmark(message_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> Response:
    await service.do_bookmark(conn, message_id, principal, save=False)
    return Response(status_code=204)


@router.get("/channels/{channel_id}/messages", response_model=MessageList)
async def channel_history(
    channel_id: uuid.UUID,
    principal: CurrentUser,
    conn: Conn,
    query: Annotated[HistoryQuery, Query()],
) -> Response:
    return json_response(await service.history_fields(conn, channel_id, query, principal))


@router.get("/channels/{channel_id}/pins")
async def channel_pins(channel_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> MessageList:
    return await service.pins_page(conn, channel_id, principal)


@router.post("/channels/{channel_id}/read")
async def mark_read(
    channel_id: uuid.UUID, body: ReadIn, principal: CurrentUser, conn: Conn
) -> ReadOut:
    return await service.do_mark_read(conn, channel_id, body.message_id, principal)


@router.get("/mentions")
async def my_mentions(
    principal: CurrentUser, conn: Conn, query: Annotated[PageQuery, Query()]
) -> MessageList:
    return await service.mentions_page(conn, principal, before=query.before, limit=query.limit)


@router.get("/bookmarks")
async def my_bookmarks(
    principal: CurrentUser, conn: Conn, query: Annotated[SavedQuery, Query()]
) -> SavedList:
    return await service.bookmarks_page(conn, principal, cursor=query.cursor, limit=query.limit)
