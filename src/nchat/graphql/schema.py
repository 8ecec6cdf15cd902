"""The GraphQL schema. Resolvers parse arguments and call the same services as REST."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import strawberry
from pydantic import BaseModel
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from nchat import appstate
from nchat.channels import service as channels
from nchat.channels.access_cache import ACCESS_CACHE
from nchat.channels.schemas import ChannelCreate, ChannelQuery
from nchat.errors import NchatError, ValidationFailed
from nchat.files.schemas import MAX_FILES_PER_MESSAGE
from nchat.graphql import notifications as gql_notifications
from nchat.graphql.args import opt_id, parse_id, validated
from nchat.graphql.context import GqlContext
from nchat.graphql.errors import NchatErrors
from nchat.graphql.subscriptions import Subscription
from nchat.graphql.types import Channel, Message, ReadState, SearchPage, Thread, User
from nchat.limits import limits_of
from nchat.messages import service as messages
from nchat.messages.schemas import HistoryQuery, MessageCreate, MessageEdit, ReactionIn
from nchat.search import service as search
from nchat.search.schemas import SearchQuery
from nchat.users.service import to_out

Info = strawberry.Info[GqlContext, None]
P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def in_savepoint(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a mutation in a savepoint: a failed one leaves nothing behind, even when other
    mutations of the same request succeed and the request commits."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        info = kwargs["info"]
        assert isinstance(info, strawberry.Info)
        async with info.context.conn.begin_nested():
            return await fn(*args, **kwargs)

    return wrapper


@strawberry.type
class Query:
    notification_preferences: gql_notifications.NotificationPreferences = strawberry.field(
        resolver=gql_notifications.my_preferences
    )
    channel_notification_preferences: gql_notifications.ChannelNotificationPreferences = (
        strawberry.field(resolver=gql_notifications.channel_preferences)
    )

    @strawberry.field
    async def me(self, info: Info) -> User:
        principal = info.context.user()
        return User.of(to_out(principal.user, viewer=principal))

    @strawberry.field
    async def channels(
        self,
        info: Info,
        *,
        type: str | None = None,
        q: str | None = None,
        member: bool | None = None,
        archived: bool | None = False,
        limit: int = 100,
        cursor: strawberry.ID | None = None,
    ) -> list[Channel]:
        principal = info.context.user()
        query = validated(
            ChannelQuery,
            type=type,
            q=q,
            member=member,
            archived=archived,
            limit=limit,
            cursor=cursor,
        )
        page = await channels.list_channels(info.context.conn, query, principal)
        return [Channel.of(c) for c in page.channels]

    @strawberry.field
    async def channel(self, info: Info, id: strawberry.ID) -> Channel:
        principal = info.context.user()
        channel_id = parse_id(id, "id")
        await channels.get_access(info.context.conn, channel_id, principal)
        return Channel.of(await channels.channel_out(info.context.conn, channel_id, principal))

    @strawberry.field
    async def messages(
        self,
        info: Info,
        channel_id: strawberry.ID,
        before: strawberry.ID | None = None,
        after: strawberry.ID | None = None,
        limit: int = 50,
    ) -> list[Message]:
        principal = info.context.user()
        query = validated(
            HistoryQuery, before=opt_id(before, "before"), after=opt_id(after, "after"), limit=limit
        )
        page = await messages.history(
            info.context.conn, parse_id(channel_id, "channelId"), query, principal
        )
        return [Message.of(m) for m in page.messages]

    @strawberry.field
    async def search(
        self,
        info: Info,
        query: str,
        first: int = 20,
        after: str | None = None,
        sort: str = "recent",
    ) -> SearchPage:
        """Messages in the channels the caller can read (the REST search's query language)."""
        principal = info.context.user()
        params = validated(SearchQuery, q=query, limit=first, cursor=after, sort=sort)
        return SearchPage.of(await search.search_messages(info.context.conn, principal, params))

    @strawberry.field
    async def thread(
        self,
        info: Info,
        message_id: strawberry.ID,
        after: strawberry.ID | None = None,
        limit: int = 100,
    ) -> Thread:
        principal = info.context.user()
        if not 1 <= limit <= 200:
            raise ValidationFailed("limit must be 1..200", code="validation_error")
        result = await messages.thread(
            info.context.conn,
            parse_id(message_id, "messageId"),
            principal,
            after=opt_id(after, "after"),
            limit=limit,
        )
        return Thread.of(result)


@strawberry.type
class Mutation:
    update_notification_preferences: gql_notifications.NotificationPreferences = (
        strawberry.mutation(resolver=in_savepoint(gql_notifications.update_preferences))
    )
    update_channel_notification_preferences: gql_notifications.ChannelNotificationPreferences = (
        strawberry.mutation(resolver=in_savepoint(gql_notifications.update_channel_preferences))
    )

    @strawberry.mutation
    @in_savepoint
    async def send_message(
        self,
        info: Info,
        *,
        channel_id: strawberry.ID,
        text: str = "",
        thread_id: strawberry.ID | None = None,
        client_id: str | None = None,
        file_ids: list[strawberry.ID] | None = None,
    ) -> Message:
        principal = info.context.user()
        body = validated(
            MessageCreate,
            channel_id=parse_id(channel_id, "channelId"),
            text=text,
            thread_id=opt_id(thread_id, "threadId"),
            client_id=client_id,
            file_ids=[
                parse_id(f, "fileIds") for f in (file_ids or [])[: MAX_FILES_PER_MESSAGE + 1]
            ],
        )
        app = info.context.app
        if app is not None:
            limits = limits_of(app)
            await limits.check(limits.rules.send, principal)
        accesses = appstate.get(app, ACCESS_CACHE) if app is not None else None
        message, _ = await messages.do_send(info.context.conn, body, principal, accesses=accesses)
        return Message.of(message)

    @strawberry.mutation
    @in_savepoint
    async def edit_message(self, info: Info, id: strawberry.ID, text: str) -> Message:
        principal = info.context.user()
        body = validated(MessageEdit, text=text)
        message_id = parse_id(id, "id")
        await messages.do_edit(info.context.conn, message_id, body.text, principal)
        return Message.of(await messages.message_out(info.context.conn, message_id, principal))

    @strawberry.mutation
    @in_savepoint
    async def delete_message(self, info: Info, id: strawberry.ID, hard: bool = False) -> bool:
        principal = info.context.user()
        await messages.do_delete(info.context.conn, parse_id(id, "id"), principal, hard=hard)
        return True

    @strawberry.mutation
    @in_savepoint
    async def add_reaction(self, info: Info, message_id: strawberry.ID, emoji: str) -> Message:
        return await _react(info, message_id, emoji, add=True)

    @strawberry.mutation
    @in_savepoint
    async def remove_reaction(self, info: Info, message_id: strawberry.ID, emoji: str) -> Message:
        return await _react(info, message_id, emoji, add=False)

    @strawberry.mutation
    @in_savepoint
    async def create_channel(
        self,
        info: Info,
        *,
        name: str,
        type: str = "public",
        topic: str = "",
        description: str = "",
        read_only: bool = False,
        member_ids: list[strawberry.ID] | None = None,
    ) -> Channel:
        principal = info.context.user()
        body = validated(
            ChannelCreate,
            name=name,
            type=type,
            topic=topic,
            description=description,
            read_only=read_only,
            member_ids=[parse_id(m, "memberIds") for m in member_ids or []],
        )
        channel_id = await channels.do_create_channel(info.context.conn, body, principal)
        return Channel.of(await channels.channel_out(info.context.conn, channel_id, principal))

    @strawberry.mutation
    @in_savepoint
    async def join_channel(self, info: Info, id: strawberry.ID) -> Channel:
        principal = info.context.user()
        channel_id = parse_id(id, "id")
        await channels.do_join(info.context.conn, channel_id, principal)
        return Channel.of(await channels.channel_out(info.context.conn, channel_id, principal))

    @strawberry.mutation
    @in_savepoint
    async def leave_channel(self, info: Info, id: strawberry.ID) -> bool:
        principal = info.context.user()
        await channels.do_leave(info.context.conn, parse_id(id, "id"), principal)
        return True

    @strawberry.mutation
    @in_savepoint
    async def mark_read(
        self, info: Info, channel_id: strawberry.ID, message_id: strawberry.ID
    ) -> ReadState:
        principal = info.context.user()
        result = await messages.do_mark_read(
            info.context.conn,
            parse_id(channel_id, "channelId"),
            parse_id(message_id, "messageId"),
            principal,
        )
        return ReadState.of(result)


async def _react(info: Info, message_id: strawberry.ID, emoji: str, *, add: bool) -> Message:
    principal = info.context.user()
    body = validated(ReactionIn, emoji=emoji)
    mid = parse_id(message_id, "messageId")
    await messages.do_react(info.context.conn, mid, body.emoji, principal, add=add)
    return Message.of(await messages.message_out(info.context.conn, mid, principal))


class NchatSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[Any], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client mistakes are answers, not incidents: NchatErrors already logs the rest."""


def make_schema(*extensions: Callable[[], SchemaExtension]) -> NchatSchema:
    """The schema with nchat's error codes and a deployment's own extensions (its limits)."""
    return NchatSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*extensions, NchatErrors],
    )


__all__ = ["NchatError", "make_schema"]
