"""GraphQL subscriptions (graphql-transport-ws): the hub's stream, with the socket's rules
of visibility."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import orjson
import sqlalchemy as sa
import strawberry
from strawberry.scalars import JSON

from nchat.channels import service as channels
from nchat.channels.models import channel_members
from nchat.errors import NchatError
from nchat.graphql.args import parse_id
from nchat.graphql.context import GqlContext
from nchat.graphql.errors import as_graphql_error
from nchat.graphql.types import Message
from nchat.messages.schemas import MessageOut
from nchat.realtime.hub import Hub

Info = strawberry.Info[GqlContext, None]


@strawberry.type
class Event:
    id: str
    type: str
    channel_id: strawberry.ID | None
    data: JSON
    created_at: datetime


async def _events(info: Info) -> AsyncGenerator[dict[str, object], None]:
    """Every event the caller may see from now on, as the socket frames carry them."""
    principal = info.context.user()
    hub: Hub = info.context.app.state.hub
    cm = channel_members.c
    async with info.context.engine.connect() as conn:
        rows = await conn.execute(sa.select(cm.channel_id).where(cm.user_id == principal.id))
        member_of = {row[0] for row in rows.all()}
    sub, _ = hub.register(principal.id, member_of, None)
    try:
        while not sub.overflowed.is_set() and not sub.closing.is_set():
            frame = orjson.loads(await sub.queue.get())
            if frame.get("type") == "event":
                yield frame["event"]
    finally:
        hub.unregister(sub)


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
                await channels.get_access(conn, target, principal)  # 404 for the invisible
        except NchatError as exc:
            # Subscription errors do not pass the schema's error extension: convert here.
            raise as_graphql_error(exc) from exc
        async for event in _events(info):
            if event["type"] == "message.created" and event["channel_id"] == str(target):
                yield Message.of(MessageOut.model_validate(event["data"]))

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
