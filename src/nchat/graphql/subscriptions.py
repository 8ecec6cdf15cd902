"""GraphQL subscriptions (graphql-transport-ws): the hub's stream, with the socket's rules
of visibility.

A connection is authorised once, by its `connection_init` token; when that access ends
(signed out, session revoked, user deactivated) or the token runs out, the whole socket is
closed with 4401 (graphql-transport-ws' "Unauthorized"): the client reconnects with a fresh
token, or signs in again. A `messageCreated` stream also ends, with `channel_not_found`,
once its caller leaves or is removed from the channel, once the channel is deleted, and, for
a caller reading a public channel without belonging to it, once it is made private."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import orjson
import sqlalchemy as sa
import strawberry
from starlette.websockets import WebSocket
from strawberry.scalars import JSON

from nchat import appstate
from nchat.auth.streams import STREAM_GUARD
from nchat.channels import service as channels
from nchat.errors import NchatError, NotFound, TooManyRequests
from nchat.graphql.args import parse_id
from nchat.graphql.context import GqlContext
from nchat.graphql.errors import as_graphql_error
from nchat.graphql.types import Message
from nchat.messages.schemas import MessageOut
from nchat.realtime.hub import HUB, Subscriber
from nchat.tables.channels import channel_members
from nchat.users import repository as users_repo

Info = strawberry.Info[GqlContext, None]

CLOSE_UNAUTHORIZED = 4401
# Streams one connection may hold at once: each is a registration with the hub.
MAX_STREAMS = 20
# And one user in one process, over all their sockets and subscriptions (GraphQL sockets are
# not counted across nodes, as /api/ws sockets are: this bounds them per node).
MAX_USER_STREAMS = 100
MAX_WAIT_S = 3600.0  # asyncio's timers cannot wait forever


@strawberry.type
class Event:
    id: str
    type: str
    channel_id: strawberry.ID | None
    data: JSON
    created_at: datetime


async def _events(
    info: Info,
    *,
    also: frozenset[uuid.UUID] = frozenset(),
    registered: Callable[[], Awaitable[None]] | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Every event the caller may see from now on, as the socket frames carry them; `also`:
    channels to hear besides the caller's own, which `registered` checks once more after the
    stream registered (a change that committed before that is not delivered to it)."""
    context = info.context
    principal = context.user()
    hub = appstate.get(context.app, HUB)
    guard = appstate.get(context.app, STREAM_GUARD)
    if context.streams >= MAX_STREAMS:
        error = TooManyRequests(1, f"At most {MAX_STREAMS} subscriptions per connection")
        raise as_graphql_error(error)
    # Counted before the first await: subscriptions started together see each other.
    context.streams += 1
    try:
        cm = channel_members.c
        async with context.engine.connect() as conn:
            query = sa.select(cm.channel_id).where(cm.user_id == principal.id)
            member_of = {row[0] for row in (await conn.execute(query)).all()}
        await hub.begun()
        # Checked and registered with no await between: the bound holds under a burst.
        if len(hub.subscribers_of(principal.id)) >= MAX_USER_STREAMS:
            error = TooManyRequests(5, f"At most {MAX_USER_STREAMS} open streams per user")
            raise as_graphql_error(error)
        channel_ids = member_of | also
        sub, _ = hub.register(principal.id, channel_ids, None, session_id=principal.session_id)
        try:
            # A revocation between the connection's token check and this registration.
            await guard.check([sub])
            if registered is not None:
                await registered()
            while (payload := await _next(sub, principal.expires_at)) is not None:
                frame = orjson.loads(payload)
                if frame.get("type") == "event":
                    yield frame["event"]
        finally:
            hub.unregister(sub)
    finally:
        context.streams -= 1
    if sub.ended.is_set() or time.time() >= principal.expires_at:
        await _close_unauthorized(context.request, sub)


async def _next(sub: Subscriber, expires_at: float) -> bytes | None:
    """The subscriber's next frame; None once the stream has to end (too slow, the server
    stopping, access ended, the token expired)."""
    stops = (sub.overflowed, sub.closing, sub.ended)
    while not any(stop.is_set() for stop in stops):
        if not sub.queue.empty():
            return sub.queue.get_nowait()
        remaining = expires_at - time.time()
        if remaining <= 0:
            return None
        got = asyncio.ensure_future(sub.queue.get())
        waits: list[asyncio.Future[Any]] = [got]
        waits += [asyncio.ensure_future(stop.wait()) for stop in stops]
        try:
            await asyncio.wait(
                waits, timeout=min(remaining, MAX_WAIT_S), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for wait in waits:
                wait.cancel()
        if got.done() and not got.cancelled():
            return got.result()  # taken off the queue: delivered, even if a stop came too
    return None


async def _close_unauthorized(connection: object, sub: Subscriber) -> None:
    if isinstance(connection, WebSocket):
        reason = "session ended" if sub.ended.is_set() else "token expired"
        with contextlib.suppress(RuntimeError):
            await connection.close(code=CLOSE_UNAUTHORIZED, reason=reason)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def message_created(
        self, info: Info, channel_id: strawberry.ID
    ) -> AsyncGenerator[Message, None]:
        try:
            principal = info.context.user()
            target = parse_id(channel_id, "channelId")
            async with info.context.engine.connect() as conn:
                access = await channels.get_access(conn, target, principal)  # 404: invisible
        except NchatError as exc:
            # Subscription errors do not pass the schema's error extension: convert here.
            raise as_graphql_error(exc) from exc
        member = access.is_member

        async def still_readable(reread: bool = False) -> None:
            nonlocal principal
            try:
                async with info.context.engine.connect() as conn:
                    if reread:
                        row = await users_repo.get_by_id(conn, principal.id)
                        if row is not None:
                            principal = dataclasses.replace(principal, user=row)
                    await channels.get_access(conn, target, principal)
            except NchatError as exc:
                raise as_graphql_error(exc) from exc

        # The channel's events reach the stream of a non-member reading a public channel too.
        async for event in _events(info, also=frozenset({target}), registered=still_readable):
            kind, data = event["type"], event["data"]
            if kind == "user.updated" and data.get("id") == str(principal.id) and not member:
                # A new role (a guest sees no public channel it has not joined): asked again.
                await still_readable(reread=True)
            if event["channel_id"] != str(target):
                continue
            mine = data.get("user_id") == str(principal.id)
            if kind == "message.created":
                yield Message.of(MessageOut.model_validate(data))
            elif kind == "member.joined" and mine:
                member = True
            elif (
                (kind == "member.left" and mine)
                or kind == "channel.deleted"
                or (kind == "channel.updated" and data.get("type") != "public" and not member)
            ):
                gone = NotFound("You no longer see this channel", code="channel_not_found")
                raise as_graphql_error(gone)

    @strawberry.subscription
    async def events(self, info: Info) -> AsyncGenerator[Event, None]:
        async for event in _events(info):
            channel_id = event.get("channel_id")
            yield Event(
                id=str(event["id"]),
                type=str(event["type"]),
                channel_id=strawberry.ID(str(channel_id)) if channel_id else None,
                data=cast(JSON, event["data"]),
                created_at=datetime.fromisoformat(str(event["created_at"])),
            )
