"""All SQL of messages, edits, reactions, pins, bookmarks, mentions and thread followers."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.realtime import log
from nchat.realtime.presence import fresh_since
from nchat.tables.channels import channel_members, channels
from nchat.tables.messages import (
    bookmarks,
    mentions,
    message_edits,
    messages,
    pinned_messages,
    reactions,
    thread_followers,
)
from nchat.tables.realtime import presence
from nchat.tables.users import users

msg = messages.c


def message_rows() -> sa.Select[Any]:
    """Messages with their author and pin state: one row per message, ready to render."""
    return sa.select(
        messages,
        users.c.username.label("author_username"),
        users.c.display_name.label("author_name"),
        # Whether the author sees public channels, for a row rendered on read (`#channel`).
        users.c.role.label("author_role"),
        pinned_messages.c.message_id.isnot(None).label("pinned"),
    ).select_from(
        messages.join(users, users.c.id == msg.user_id).outerjoin(
            pinned_messages, pinned_messages.c.message_id == msg.id
        )
    )


async def get(conn: AsyncConnection, message_id: uuid.UUID) -> RowMapping | None:
    row: RowMapping | None = (
        (await conn.execute(message_rows().where(msg.id == message_id))).mappings().first()
    )
    return row


async def rows_by_id(conn: AsyncConnection, ids: list[uuid.UUID]) -> list[RowMapping]:
    """Messages ready to render, in no particular order."""
    return list((await conn.execute(message_rows().where(msg.id.in_(ids)))).mappings())


async def get_for_update(conn: AsyncConnection, message_id: uuid.UUID) -> RowMapping | None:
    query = sa.select(messages).where(msg.id == message_id).with_for_update()
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def thread_root(conn: AsyncConnection, message_id: uuid.UUID) -> RowMapping | None:
    """What a thread check needs of a message: its channel, its thread, whether deleted."""
    query = sa.select(msg.channel_id, msg.thread_id, msg.deleted_at).where(msg.id == message_id)
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def by_client_id(
    conn: AsyncConnection, user_id: uuid.UUID, channel_id: uuid.UUID, client_id: str
) -> RowMapping | None:
    """The user's message with this client_id in this channel: keys are per (user, channel),
    like the unique index the send's ON CONFLICT names."""
    query = message_rows().where(
        msg.user_id == user_id, msg.channel_id == channel_id, msg.client_id == client_id
    )
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def first_text(conn: AsyncConnection, message_id: uuid.UUID) -> str | None:
    """The text the message was sent with, if it was edited since (its oldest edit)."""
    e = message_edits.c
    query = sa.select(e.text).where(e.message_id == message_id).order_by(e.id).limit(1)
    text: str | None = await conn.scalar(query)
    return text


_SEND_COLUMNS = (
    "id",
    "channel_id",
    "user_id",
    "text",
    "html",
    "thread_id",
    "client_id",
    "mentions",
    "files",
    "created_at",
)
_send_values = {name: sa.bindparam(name, type_=msg[name].type) for name in _SEND_COLUMNS}
_member, _channel = channel_members.c, channels.c
# The facts the permission check relied on, checked again by the write itself: the sender is
# still a member with the same role, and the channel is of the same type, neither archived
# nor read-only. A check made a moment ago, or on a remembered access (channels/access_cache),
# then cannot let through a post the current rows would refuse.
_STILL_ALLOWED = (
    sa.select(sa.literal_column("1"))
    .select_from(channel_members.join(channels, _channel.id == _member.channel_id))
    .where(
        _member.channel_id == _send_values["channel_id"],
        _member.user_id == _send_values["user_id"],
        _member.role == sa.bindparam("member_role", type_=_member.role.type),
        _channel.type == sa.bindparam("channel_type", type_=_channel.type.type),
        _channel.archived_at.is_(None),
        _channel.read_only.is_(False),
    )
    .exists()
)
_new_message = (
    pg_insert(messages)
    .from_select(list(_SEND_COLUMNS), sa.select(*_send_values.values()).where(_STILL_ALLOWED))
    .on_conflict_do_nothing(
        index_elements=["user_id", "channel_id", "client_id"], index_where=msg.client_id.isnot(None)
    )
    .returning(msg.id, msg.channel_id, msg.user_id)
    .cte("new_message")
)
_new_mentions = (
    sa.insert(mentions)
    .from_select(
        ["message_id", "user_id", "channel_id"],
        sa.select(
            _new_message.c.id,
            sa.func.unnest(sa.bindparam("mention_ids", type_=ARRAY(UUID(as_uuid=True)))),
            _new_message.c.channel_id,
        ),
    )
    .cte("new_mentions")
)
# The message, its mentions and its event in one statement: one round trip, atomic without
# a transaction around it, and nothing but the message's absence when the insert yields to
# an earlier send with the same client_id.
_SEND = log.EventWrite(
    lambda events: (
        sa.insert(events)
        .from_select(
            ["type", "channel_id", "user_id", "data"],
            sa.select(
                sa.literal("message.created"),
                _new_message.c.channel_id,
                _new_message.c.user_id,
                sa.bindparam("event_data", type_=JSONB),
            ),
        )
        .add_cte(_new_mentions)
        .returning(events.c.id)
    ),
    json_params=frozenset({"mentions", "files", "event_data"}),
)


async def insert_with_event(
    conn: AsyncConnection,
    values: dict[str, Any],
    allowed_as: tuple[str, str],
    mention_ids: list[uuid.UUID],
    event_data: dict[str, Any],
) -> bool:
    """Insert the message, the mentions of `mention_ids` and its `message.created` event,
    unless (user, client_id) exists already or the sender is no longer allowed as
    `allowed_as` (member role, channel type) says; True when inserted."""
    role, channel_type = allowed_as
    params = {
        **values,
        "member_role": role,
        "channel_type": channel_type,
        "mention_ids": mention_ids,
        "event_data": event_data,
    }
    return await _SEND.fetchrow(conn, params) is not None


async def bump_thread(conn: AsyncConnection, root_id: uuid.UUID, delta: int) -> None:
    # One atomic UPDATE: concurrent replies queue on the root's row lock, none is lost.
    values: dict[str, Any] = {"reply_count": msg.reply_count + delta}
    if delta > 0:
        values["last_reply_at"] = sa.func.now()
    await conn.execute(sa.update(messages).where(msg.id == root_id).values(**values))


async def follow(conn: AsyncConnection, root_id: uuid.UUID, user_ids: list[uuid.UUID]) -> None:
    await conn.execute(
        pg_insert(thread_followers)
        .values([{"message_id": root_id, "user_id": u} for u in user_ids])
        .on_conflict_do_nothing()
    )


async def update(conn: AsyncConnection, message_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(sa.update(messages).where(msg.id == message_id).values(**values))


async def hard_delete(conn: AsyncConnection, message_id: uuid.UUID) -> None:
    await conn.execute(sa.delete(messages).where(msg.id == message_id))


async def add_edit(conn: AsyncConnection, message_id: uuid.UUID, old_text: str) -> None:
    await conn.execute(sa.insert(message_edits).values(message_id=message_id, text=old_text))


async def edits(conn: AsyncConnection, message_id: uuid.UUID) -> list[RowMapping]:
    query = (
        sa.select(message_edits.c.text, message_edits.c.edited_at)
        .where(message_edits.c.message_id == message_id)
        .order_by(message_edits.c.id)
    )
    return list((await conn.execute(query)).mappings().all())


# -- pages -----------------------------------------------------------------


@functools.cache
def _channel_page_query(*, before: bool, after: bool, at_or_after: bool) -> sa.Select[Any]:
    """One statement per page shape, built once: history pages are among the hottest reads,
    and building a statement costs more than executing a cached one."""

    def uuid_param(name: str) -> Any:
        return sa.bindparam(name, type_=UUID(as_uuid=True))

    query = message_rows().where(
        msg.channel_id == uuid_param("channel_id"), msg.thread_id.is_(None)
    )
    if before:
        query = query.where(msg.id < uuid_param("before"))
    if after:
        query = query.where(msg.id > uuid_param("after"))
    if at_or_after:
        query = query.where(msg.id >= uuid_param("at_or_after"))
    forward = after or at_or_after
    return query.order_by(msg.id.asc() if forward else msg.id.desc()).limit(sa.bindparam("limit"))


async def channel_page(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    *,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    at_or_after: uuid.UUID | None = None,
    limit: int,
) -> list[RowMapping]:
    """Channel-level messages; newest first, or oldest first when reading forward."""
    query = _channel_page_query(
        before=before is not None, after=after is not None, at_or_after=at_or_after is not None
    )
    params = {
        "channel_id": channel_id,
        "before": before,
        "after": after,
        "at_or_after": at_or_after,
        "limit": limit,
    }
    used = {k: v for k, v in params.items() if v is not None or k == "channel_id"}
    return list((await conn.execute(query, used)).mappings().all())


async def thread_page(
    conn: AsyncConnection, root_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    query = message_rows().where(msg.thread_id == root_id)
    if after is not None:
        query = query.where(msg.id > after)
    return list((await conn.execute(query.order_by(msg.id).limit(limit))).mappings().all())


_r = reactions.c
# One array parameter rather than IN (...): a single prepared statement for any page size.
_REACTIONS = (
    sa.select(
        _r.message_id,
        _r.emoji,
        sa.func.count(),
        sa.func.bool_or(_r.user_id == sa.bindparam("viewer", type_=UUID(as_uuid=True))),
    )
    .where(_r.message_id == sa.func.any(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
    .group_by(_r.message_id, _r.emoji)
    .order_by(_r.message_id, sa.func.min(_r.created_at), _r.emoji)
)


async def reactions_for(
    conn: AsyncConnection, message_ids: list[uuid.UUID], viewer: uuid.UUID
) -> dict[uuid.UUID, list[tuple[str, int, bool]]]:
    if not message_ids:
        return {}
    params = {"ids": message_ids, "viewer": viewer}
    out: dict[uuid.UUID, list[tuple[str, int, bool]]] = {}
    for message_id, emoji, count, me in (await conn.execute(_REACTIONS, params)).all():
        out.setdefault(message_id, []).append((emoji, int(count), bool(me)))
    return out


async def participants_for(
    conn: AsyncConnection, root_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    if not root_ids:
        return {}
    f = thread_followers.c
    query = (
        sa.select(f.message_id, f.user_id)
        .where(f.message_id.in_(root_ids))
        .order_by(f.message_id, f.created_at, f.user_id)
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    for root, user in (await conn.execute(query)).all():
        out.setdefault(root, []).append(user)
    return out


# -- reactions, pins, bookmarks, mentions ----------------------------------


async def add_reaction(
    conn: AsyncConnection, message_id: uuid.UUID, user_id: uuid.UUID, emoji: str
) -> bool:
    query = (
        pg_insert(reactions)
        .values(message_id=message_id, user_id=user_id, emoji=emoji)
        .on_conflict_do_nothing()
        .returning(reactions.c.emoji)
    )
    return (await conn.execute(query)).first() is not None


async def remove_reaction(
    conn: AsyncConnection, message_id: uuid.UUID, user_id: uuid.UUID, emoji: str
) -> bool:
    r = reactions.c
    query = (
        sa.delete(reactions)
        .where(r.message_id == message_id, r.user_id == user_id, r.emoji == emoji)
        .returning(r.emoji)
    )
    return (await conn.execute(query)).first() is not None


async def reaction_count(conn: AsyncConnection, message_id: uuid.UUID, emoji: str) -> int:
    r = reactions.c
    query = sa.select(sa.func.count()).where(r.message_id == message_id, r.emoji == emoji)
    return int(await conn.scalar(query) or 0)


async def pin(
    conn: AsyncConnection, message_id: uuid.UUID, channel_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    query = (
        pg_insert(pinned_messages)
        .values(message_id=message_id, channel_id=channel_id, pinned_by=user_id)
        .on_conflict_do_nothing()
        .returning(pinned_messages.c.message_id)
    )
    return (await conn.execute(query)).first() is not None


async def unpin(conn: AsyncConnection, message_id: uuid.UUID) -> bool:
    p = pinned_messages.c
    query = sa.delete(pinned_messages).where(p.message_id == message_id).returning(p.message_id)
    return (await conn.execute(query)).first() is not None


async def pinned_page(conn: AsyncConnection, channel_id: uuid.UUID) -> list[RowMapping]:
    query = (
        message_rows()
        .where(pinned_messages.c.channel_id == channel_id)
        .order_by(pinned_messages.c.pinned_at.desc())
    )
    return list((await conn.execute(query)).mappings().all())


async def bookmark(conn: AsyncConnection, message_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute(
        pg_insert(bookmarks).values(user_id=user_id, message_id=message_id).on_conflict_do_nothing()
    )


async def unbookmark(conn: AsyncConnection, message_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    b = bookmarks.c
    query = (
        sa.delete(bookmarks)
        .where(b.user_id == user_id, b.message_id == message_id)
        .returning(b.message_id)
    )
    return (await conn.execute(query)).first() is not None


def _still_member(user_id: uuid.UUID) -> Any:
    cm = channel_members.c
    return sa.exists().where(cm.channel_id == msg.channel_id, cm.user_id == user_id)


async def bookmarked_page(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[RowMapping]:
    """Saved messages, newest saved first (ties by message id), each with its `saved_at`,
    skipping those the user can no longer see. `before`: the (saved_at, message id) of the
    last one of the page before (the (user_id, created_at) index walks it backwards)."""
    b = bookmarks.c
    query = (
        message_rows()
        .add_columns(b.created_at.label("saved_at"))
        .join(bookmarks, sa.and_(b.message_id == msg.id, b.user_id == user_id))
        .where(msg.deleted_at.is_(None), _still_member(user_id))
    )
    if before is not None:
        query = query.where(sa.tuple_(b.created_at, b.message_id) < sa.tuple_(*before))
    query = query.order_by(b.created_at.desc(), b.message_id.desc()).limit(limit)
    return list((await conn.execute(query)).mappings().all())


async def mentioned_page(
    conn: AsyncConnection, user_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    mn = mentions.c
    query = (
        message_rows()
        .join(mentions, sa.and_(mn.message_id == msg.id, mn.user_id == user_id))
        .where(msg.deleted_at.is_(None), _still_member(user_id))
    )
    if before is not None:
        query = query.where(msg.id < before)
    query = query.order_by(msg.id.desc()).limit(limit)
    return list((await conn.execute(query)).mappings().all())


async def replace_mentions(
    conn: AsyncConnection, message_id: uuid.UUID, channel_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> None:
    await conn.execute(sa.delete(mentions).where(mentions.c.message_id == message_id))
    await add_mentions(conn, message_id, channel_id, user_ids)


async def add_mentions(
    conn: AsyncConnection, message_id: uuid.UUID, channel_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> None:
    if user_ids:
        await conn.execute(
            sa.insert(mentions).values(
                [
                    {"message_id": message_id, "user_id": u, "channel_id": channel_id}
                    for u in user_ids
                ]
            )
        )


@dataclass(frozen=True)
class Names:
    """What the names in some texts stand for (messages/content.py makes the renderer's
    refs of it): users by username, with whether they are members of the channel asked
    about; channels by name, with whether they are public and which of the authors asked
    about are their members."""

    users: dict[str, tuple[uuid.UUID, bool]] = field(default_factory=dict)
    channels: dict[str, tuple[uuid.UUID, bool, frozenset[uuid.UUID]]] = field(default_factory=dict)


def _uuids(name: str) -> Any:
    return sa.bindparam(name, type_=ARRAY(UUID(as_uuid=True)))


def _texts(name: str) -> Any:
    return sa.bindparam(name, type_=ARRAY(sa.Text))


# Users and channels in one statement (one round trip for a send that names either). Its
# columns: kind, name, id, flag (a user: a member of :channel_id; a channel: public) and, for
# a channel, those of :authors who are its members.
_NAMES = sa.union_all(
    sa.select(
        sa.literal("user").label("kind"),
        sa.func.lower(users.c.username).label("name"),
        users.c.id,
        sa.exists()
        .where(
            _member.channel_id == sa.bindparam("channel_id", type_=UUID(as_uuid=True)),
            _member.user_id == users.c.id,
        )
        .label("flag"),
        sa.cast(sa.null(), ARRAY(UUID(as_uuid=True))).label("members"),
    ).where(
        sa.func.lower(users.c.username) == sa.any_(_texts("usernames")),
        users.c.deleted_at.is_(None),
    ),
    sa.select(
        sa.literal("channel"),
        _channel.name,
        _channel.id,
        _channel.type == "public",
        sa.func.array(
            sa.select(_member.user_id)
            .where(_member.channel_id == _channel.id, _member.user_id == sa.any_(_uuids("authors")))
            .scalar_subquery()
        ),
    ).where(_channel.name == sa.any_(_texts("channel_names"))),
)


async def names(
    conn: AsyncConnection,
    *,
    usernames: list[str],
    channel_names: list[str],
    authors: list[uuid.UUID],
    channel_id: uuid.UUID | None = None,
) -> Names:
    """The users and channels of these (lower-case) names; none asked, no query."""
    found = Names()
    if not usernames and not channel_names:
        return found
    params = {
        "usernames": usernames,
        "channel_names": channel_names,
        "authors": authors,
        "channel_id": channel_id,
    }
    for kind, name, id_, flag, members in (await conn.execute(_NAMES, params)).all():
        if kind == "user":
            found.users[name] = (id_, bool(flag))
        else:
            found.channels[name] = (id_, bool(flag), frozenset(members))
    return found


async def member_ids(
    conn: AsyncConnection, channel_id: uuid.UUID, *, present_only: bool = False
) -> list[uuid.UUID]:
    """The channel's members; present_only: those with a live socket that is not away
    (whom @here reaches)."""
    cm = channel_members.c
    query = sa.select(cm.user_id).where(cm.channel_id == channel_id)
    if present_only:
        p = presence.c
        query = query.where(
            sa.exists().where(
                p.user_id == cm.user_id,
                p.status.in_(("online", "dnd")),
                p.last_seen > fresh_since(),
            )
        )
    return [r[0] for r in (await conn.execute(query)).all()]


async def in_channel(conn: AsyncConnection, message_id: uuid.UUID, channel_id: uuid.UUID) -> bool:
    query = sa.select(msg.id).where(msg.id == message_id, msg.channel_id == channel_id)
    return (await conn.execute(query)).first() is not None


# -- html of rows written before it was stored -----------------------------


async def without_html(conn: AsyncConnection, limit: int) -> list[RowMapping]:
    """Up to `limit` messages without html, locked; those another transaction holds are
    skipped (several processes fill at once). Walks the partial index of such rows."""
    query = (
        sa.select(msg.id, msg.text, msg.user_id, users.c.role.label("author_role"))
        .join(users, users.c.id == msg.user_id)
        .where(msg.html.is_(None))
        .order_by(msg.id)
        .limit(limit)
        .with_for_update(of=messages, skip_locked=True)
    )
    return list((await conn.execute(query)).mappings().all())


async def set_html(conn: AsyncConnection, rendered: dict[uuid.UUID, str]) -> None:
    """Fills the html of rows that still have none (an edit may have written it since)."""
    if not rendered:
        return
    values = (
        sa.func.unnest(
            sa.bindparam("ids", list(rendered), type_=ARRAY(UUID(as_uuid=True))),
            sa.bindparam("htmls", list(rendered.values()), type_=ARRAY(sa.Text)),
        )
        .table_valued("id", "html")
        .render_derived()
    )
    await conn.execute(
        sa.update(messages)
        .where(msg.id == values.c.id, msg.html.is_(None))
        .values(html=values.c.html)
    )
