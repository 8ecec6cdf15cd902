"""Messages: send (idempotent), read, edit, delete, threads, reactions, pins, bookmarks,
mentions and read markers. Channel visibility and posting rules come from channels.service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat import cursors
from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.channels import repository as channels_repo
from nchat.channels import service as channels
from nchat.channels.access_cache import AccessCache
from nchat.channels.service import ChannelAccess
from nchat.db.ids import uuid7
from nchat.db.transaction import atomic
from nchat.errors import BadRequest, Conflict, Forbidden, NchatError, NotFound
from nchat.files import service as files
from nchat.files.schemas import FileOut
from nchat.messages import content as message_content
from nchat.messages import repository as repo
from nchat.messages.content import Content
from nchat.messages.events import MessageDeleted, PinChanged, ReactionChanged, ReadUpdated
from nchat.messages.schemas import (
    HistoryOut,
    HistoryQuery,
    Mentions,
    MessageCreate,
    MessageList,
    MessageOut,
    ReadOut,
    SavedList,
    ThreadOut,
    UserBrief,
    Version,
)
from nchat.realtime import log

NOBODY = uuid.UUID(int=0)


def message_not_found() -> NotFound:
    return NotFound("No such message", code="message_not_found")


async def render(
    conn: AsyncConnection, rows: list[RowMapping], viewer: Principal | None
) -> list[MessageOut]:
    """Rows from repository pages -> messages (MessageOut)."""
    return [MessageOut.model_validate(f) for f in await render_fields(conn, rows, viewer)]


async def render_fields(
    conn: AsyncConnection, rows: list[RowMapping], viewer: Principal | None
) -> list[dict[str, Any]]:
    """Rows from repository pages -> MessageOut's fields as plain values, with two batched
    lookups for the page. A history page is serialized from these directly: 50 messages
    as models (and FastAPI's pass over them) cost a third of the request.

    Without a viewer (events, which many people receive) every reaction has `me` false;
    clients keep their own from reaction events."""
    ids = [r["id"] for r in rows]
    reactions = await repo.reactions_for(conn, ids, viewer.id if viewer else NOBODY)
    roots = [r["id"] for r in rows if r["reply_count"] > 0]
    participants = await repo.participants_for(conn, roots)
    # Rows written before html was stored, until housekeeping fills them (decision 0035).
    unrendered = [r for r in rows if r["html"] is None and r["deleted_at"] is None]
    rendered = await message_content.html_of(conn, unrendered) if unrendered else {}
    return [
        _fields(r, reactions.get(r["id"], []), participants.get(r["id"], []), rendered)
        for r in rows
    ]


def _fields(
    row: RowMapping,
    reactions: list[tuple[str, int, bool]],
    participants: list[uuid.UUID],
    rendered: dict[uuid.UUID, str],
) -> dict[str, Any]:
    """One message as MessageOut's fields, in its order."""
    deleted = row["deleted_at"] is not None
    mentions: dict[str, Any] = {} if deleted else row["mentions"]
    return {
        "id": row["id"],
        "channel_id": row["channel_id"],
        "user": {
            "id": row["user_id"],
            "username": row["author_username"],
            "name": row["author_name"] or row["author_username"],
        },
        "text": None if deleted else row["text"],
        "html": None if deleted else _html(row, rendered),
        "thread_id": row["thread_id"],
        "reply_count": row["reply_count"],
        "last_reply_at": row["last_reply_at"],
        "participants": participants,
        "reactions": []
        if deleted
        else [{"emoji": e, "count": n, "me": me} for e, n, me in reactions],
        "mentions": {
            "user_ids": mentions.get("user_ids", []),
            "channel": mentions.get("channel", False),
            "here": mentions.get("here", False),
        },
        "files": [] if deleted else row["files"],
        "pinned": row["pinned"],
        "client_id": row["client_id"],
        "created_at": row["created_at"],
        "edited_at": row["edited_at"],
        "deleted_at": row["deleted_at"],
    }


def _html(row: RowMapping, rendered: dict[uuid.UUID, str]) -> str:
    html: str | None = row["html"]
    return rendered[row["id"]] if html is None else html


async def message_out(
    conn: AsyncConnection, message_id: uuid.UUID, viewer: Principal | None
) -> MessageOut:
    row = await repo.get(conn, message_id)
    if row is None:
        raise message_not_found()
    return (await render(conn, [row], viewer))[0]


async def get_visible(
    conn: AsyncConnection, message_id: uuid.UUID, principal: Principal
) -> tuple[RowMapping, ChannelAccess]:
    """The message and its channel as the caller sees them; 404 for anything invisible."""
    row = await repo.get(conn, message_id)
    if row is None:
        raise message_not_found()
    try:
        access = await channels.get_access(conn, row["channel_id"], principal)
    except NotFound as exc:
        raise message_not_found() from exc
    return row, access


# -- send ------------------------------------------------------------------


Sent = tuple[MessageOut, bool]


async def do_send(
    conn: AsyncConnection,
    body: MessageCreate,
    principal: Principal,
    *,
    accesses: AccessCache | None = None,
) -> Sent:
    """Returns (the message, created). A repeated client_id (per user and channel) returns
    the first message; the same key with other text or another thread is a 409.

    A message outside a thread is one statement (message, mentions, event), so the send
    needs no transaction of its own; a reply also updates its root, in one transaction.
    With `accesses`, an access that let this user post here before stands in for reading
    the channel again (a message outside a thread only); the write checks that it still
    holds (decision 0018)."""
    existing = await sent_before(conn, body, principal)
    if existing is not None:
        return existing
    remembered = _remembered(accesses, body, principal)
    content = None
    if remembered is not None:
        content = await message_content.resolve(conn, body.channel_id, body.text, principal)
        sent = await _insert(conn, body, remembered, principal, content, root=None, attached=[])
        if sent is not None:
            return sent
        # Gone stale (or a concurrent send took the client_id): decide on fresh rows.
        assert accesses is not None
        accesses.forget(body.channel_id, principal.id)
    access = await channels.get_access(conn, body.channel_id, principal)
    channels.check_can_post(access, principal)
    # Resolved and rendered before a reply's transaction locks its root: a long text must not
    # hold up the thread's other replies.
    if content is None:
        content = await message_content.resolve(conn, access.id, body.text, principal)
    sent = await _post(conn, body, access, principal, content)
    if sent is None:
        return await _not_written(conn, body, principal)
    if accesses is not None and body.thread_id is None:
        accesses.remember(principal.id, access)
    return sent


async def sent_before(
    conn: AsyncConnection, body: MessageCreate, principal: Principal
) -> Sent | None:
    """The first message of this (user, channel, client_id), if any; the key used again for
    another message is a 409 (answering with the first would say the new one was sent)."""
    if body.client_id is None:
        return None
    existing = await repo.by_client_id(conn, principal.id, body.channel_id, body.client_id)
    if existing is None:
        return None
    if not await _same_send(conn, existing, body):
        message = "This client_id was used for a different message in this channel"
        details = {"message_id": str(existing["id"]), "client_id": body.client_id}
        raise Conflict(message, code="client_id_reused", details=details)
    return (await render(conn, [existing], principal))[0], False


async def _same_send(conn: AsyncConnection, existing: RowMapping, body: MessageCreate) -> bool:
    """Whether `body` repeats the send that wrote `existing`: the text it was sent with (an
    edit made since does not turn a retry into a conflict) and the same thread."""
    if existing["thread_id"] != body.thread_id:
        return False
    sent_text = existing["text"]
    if existing["edited_at"] is not None:
        sent_text = await repo.first_text(conn, existing["id"]) or sent_text
    return bool(sent_text == body.text)


def _remembered(
    accesses: AccessCache | None, body: MessageCreate, principal: Principal
) -> ChannelAccess | None:
    if accesses is None or body.thread_id is not None or body.file_ids:
        return None
    access = accesses.get(body.channel_id, principal.id)
    if access is None:
        return None
    try:
        channels.check_can_post(access, principal)  # the user's own role may have moved
    except NchatError:
        return None
    return access


async def _post(
    conn: AsyncConnection,
    body: MessageCreate,
    access: ChannelAccess,
    principal: Principal,
    content: Content,
) -> Sent | None:
    if body.thread_id is None and not body.file_ids:
        return await _insert(conn, body, access, principal, content, root=None, attached=[])
    async with atomic(conn):
        root = None
        if body.thread_id is not None:
            root = await repo.get_for_update(conn, body.thread_id)
            check_root(root, access.id)
        attached = await files.reserve(conn, body.file_ids, principal) if body.file_ids else []
        return await _insert(conn, body, access, principal, content, root=root, attached=attached)


def check_root(root: RowMapping | None, channel_id: uuid.UUID) -> None:
    """`root` (a message row, or None for no message) starts a live thread of the channel."""
    if root is None or root["channel_id"] != channel_id:
        raise NotFound("No such thread in this channel", code="thread_not_found")
    if root["thread_id"] is not None:
        raise BadRequest(
            "That message is a reply, not a thread's root",
            code="thread_not_root",
            details={"root_id": str(root["thread_id"])},
        )
    if root["deleted_at"] is not None:
        raise Conflict("The thread's root message was deleted", code="thread_deleted")


async def check_thread(conn: AsyncConnection, root_id: uuid.UUID, channel_id: uuid.UUID) -> None:
    """For a signal about a thread (typing) from a member of the channel, who may see all
    its messages: one primary-key read of three columns, as signals are frequent."""
    check_root(await repo.thread_root(conn, root_id), channel_id)


async def _not_written(conn: AsyncConnection, body: MessageCreate, principal: Principal) -> Sent:
    """The write wrote nothing: its (user, channel, client_id) was taken by a concurrent send,
    or the channel or the membership changed between the check and the write."""
    existing = await sent_before(conn, body, principal)
    if existing is not None:
        return existing
    access = await channels.get_access(conn, body.channel_id, principal)
    channels.check_can_post(access, principal)  # says what the change means, if it refuses
    raise Conflict(
        "The channel changed while the message was sent; send it again", code="channel_changed"
    )


async def _insert(
    conn: AsyncConnection,
    body: MessageCreate,
    access: ChannelAccess,
    principal: Principal,
    content: Content,
    *,
    root: RowMapping | None,
    attached: list[dict[str, Any]],
) -> Sent | None:
    """Writes the message unless the sender is no longer allowed as `access` says, or the
    (user, channel, client_id) exists already; None when it wrote nothing. `content`: its
    mentions and HTML; `attached`: the records of the files it carries, reserved by the
    caller's transaction."""
    assert access.membership is not None  # check_can_post allowed the post
    allowed_as = (access.membership["role"], access.channel["type"])
    message_id = uuid7()
    # The app's clock, like the id (UUIDv7): the event carries the message, so both are
    # known before the one statement that writes them.
    created_at = datetime.now(UTC)
    message = _fresh(
        message_id,
        body,
        content=content,
        attached=attached,
        created_at=created_at,
        principal=principal,
    )
    inserted = await repo.insert_with_event(
        conn,
        {
            "id": message_id,
            "channel_id": access.id,
            "user_id": principal.id,
            "text": body.text,
            "html": content.html,
            "thread_id": body.thread_id,
            "client_id": body.client_id,
            "mentions": content.mentions,
            "files": attached,
            "created_at": created_at,
        },
        allowed_as,
        content.notified,
        log.event_data("message.created", message),
    )
    if not inserted:
        return None
    if attached:
        await files.attach(conn, attached, message_id, access.id)
    if root is not None:
        await repo.bump_thread(conn, root["id"], +1)
        await repo.follow(conn, root["id"], sorted({principal.id, root["user_id"]}))
        await _emit_updated(conn, root["id"], actor_id=principal.id)
    return message, True


def _fresh(
    message_id: uuid.UUID,
    body: MessageCreate,
    *,
    content: Content,
    attached: list[dict[str, Any]],
    created_at: datetime,
    principal: Principal,
) -> MessageOut:
    """A message just inserted, as render() would show it, without reading it back: nobody
    can have reacted to it, replied to it or pinned it inside this transaction."""
    author = principal.user
    return MessageOut(
        id=message_id,
        channel_id=body.channel_id,
        user=UserBrief(
            id=author["id"],
            username=author["username"],
            name=author["display_name"] or author["username"],
        ),
        text=body.text,
        html=content.html,
        thread_id=body.thread_id,
        reply_count=0,
        last_reply_at=None,
        participants=[],
        reactions=[],
        mentions=Mentions(**content.mentions),
        files=[FileOut.model_validate(f) for f in attached],
        pinned=False,
        client_id=body.client_id,
        created_at=created_at,
        edited_at=None,
        deleted_at=None,
    )


async def _emit_updated(
    conn: AsyncConnection, message_id: uuid.UUID, *, actor_id: uuid.UUID
) -> MessageOut:
    message = await message_out(conn, message_id, None)
    await log.emit(
        conn, "message.updated", message, channel_id=message.channel_id, actor_id=actor_id
    )
    return message


# -- edit, delete ----------------------------------------------------------


async def do_edit(
    conn: AsyncConnection, message_id: uuid.UUID, text: str, principal: Principal
) -> None:
    row, access = await get_visible(conn, message_id, principal)
    if row["user_id"] != principal.id:
        raise Forbidden("Only the author can edit a message", code="not_message_author")
    rbac.check_permission(principal.role, "message:edit_own")
    channels.check_active(access)
    # Rendered before the row is locked (a thread's root also takes its replies' counts).
    content = await message_content.resolve(conn, access.id, text, principal)
    locked = await repo.get_for_update(conn, message_id)
    assert locked is not None
    if locked["deleted_at"] is not None:
        raise Conflict("The message was deleted", code="message_deleted")
    if locked["text"] == text:
        return
    await repo.add_edit(conn, message_id, locked["text"])
    await repo.update(
        conn,
        message_id,
        {
            "text": text,
            "html": content.html,
            "mentions": content.mentions,
            "edited_at": sa.func.now(),
        },
    )
    await repo.replace_mentions(conn, message_id, access.id, content.notified)
    await _emit_updated(conn, message_id, actor_id=principal.id)


async def do_delete(
    conn: AsyncConnection, message_id: uuid.UUID, principal: Principal, *, hard: bool
) -> None:
    row, _ = await get_visible(conn, message_id, principal)
    if hard:
        rbac.check_permission(principal.role, "message:hard_delete")
    elif row["user_id"] == principal.id:
        rbac.check_permission(principal.role, "message:delete_own")
    else:
        rbac.check_permission(principal.role, "message:delete_any")
    locked = await repo.get_for_update(conn, message_id)
    assert locked is not None
    was_live = locked["deleted_at"] is None
    if not hard and not was_live:
        raise NotFound("The message is already deleted", code="message_not_found")
    root_id = locked["thread_id"]
    if root_id is not None and was_live:
        await repo.bump_thread(conn, root_id, -1)
    if hard:
        await repo.hard_delete(conn, message_id)
    else:
        # The placeholder keeps its place in history; what made it count anywhere goes.
        await repo.update(conn, message_id, {"deleted_at": sa.func.now()})
        await repo.replace_mentions(conn, message_id, locked["channel_id"], [])
        await repo.unpin(conn, message_id)
    deleted = MessageDeleted(message_id=message_id, thread_id=root_id, hard=hard)
    await log.emit(
        conn, "message.deleted", deleted, channel_id=locked["channel_id"], actor_id=principal.id
    )
    if root_id is not None and was_live:
        await _emit_updated(conn, root_id, actor_id=principal.id)


async def edit_history(
    conn: AsyncConnection, message_id: uuid.UUID, principal: Principal
) -> HistoryOut:
    row, _ = await get_visible(conn, message_id, principal)
    if row["deleted_at"] is not None:
        return HistoryOut(versions=[])
    edits = await repo.edits(conn, message_id)
    starts = [row["created_at"], *(e["edited_at"] for e in edits)]
    texts = [*(e["text"] for e in edits), row["text"]]
    return HistoryOut(versions=[Version(text=t, at=a) for t, a in zip(texts, starts, strict=True)])


# -- reads -----------------------------------------------------------------


async def history(
    conn: AsyncConnection, channel_id: uuid.UUID, query: HistoryQuery, principal: Principal
) -> MessageList:
    return MessageList.model_validate(await history_fields(conn, channel_id, query, principal))


async def history_fields(
    conn: AsyncConnection, channel_id: uuid.UUID, query: HistoryQuery, principal: Principal
) -> dict[str, Any]:
    """A history page as MessageList's fields (plain values; the REST page serializes them)."""
    given = [q for q in (query.before, query.after, query.around) if q is not None]
    if len(given) > 1:
        raise BadRequest("Use one of before, after and around", code="invalid_page")
    access = await channels.get_access(conn, channel_id, principal)
    limit = query.limit
    if query.around is not None:
        older = await repo.channel_page(conn, access.id, before=query.around, limit=limit // 2)
        newer = await repo.channel_page(
            conn, access.id, at_or_after=query.around, limit=limit - len(older) + 1
        )
        has_more = len(newer) > limit - len(older)
        rows = list(reversed(newer[: limit - len(older)])) + older
    else:
        rows = await repo.channel_page(
            conn, access.id, before=query.before, after=query.after, limit=limit + 1
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"messages": await render_fields(conn, rows, principal), "has_more": has_more}


async def thread(
    conn: AsyncConnection,
    message_id: uuid.UUID,
    principal: Principal,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> ThreadOut:
    row, _ = await get_visible(conn, message_id, principal)
    if row["thread_id"] is not None:
        raise BadRequest(
            "That message is a reply; ask for its root",
            code="thread_not_root",
            details={"root_id": str(row["thread_id"])},
        )
    replies = await repo.thread_page(conn, message_id, after=after, limit=limit + 1)
    rendered = await render(conn, [row, *replies[:limit]], principal)
    return ThreadOut(root=rendered[0], replies=rendered[1:], has_more=len(replies) > limit)


async def mentions_page(
    conn: AsyncConnection, principal: Principal, *, before: uuid.UUID | None, limit: int
) -> MessageList:
    rows = await repo.mentioned_page(conn, principal.id, before=before, limit=limit + 1)
    return MessageList(
        messages=await render(conn, rows[:limit], principal), has_more=len(rows) > limit
    )


async def bookmarks_page(
    conn: AsyncConnection, principal: Principal, *, cursor: str | None, limit: int
) -> SavedList:
    """Saved messages, newest saved first. The cursor holds when the last one of the page
    was saved and its id: a message saved or unsaved meanwhile moves no other across it."""
    before = _saved_key(cursor) if cursor else None
    rows = await repo.bookmarked_page(conn, principal.id, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return SavedList(
        messages=await render(conn, rows, principal),
        has_more=more,
        next_cursor=(
            cursors.encode_text(f"{last['saved_at'].isoformat()} {last['id']}") if last else None
        ),
    )


def _saved_key(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (saved time, message id) a bookmarks cursor holds; a forged one is a 400."""
    try:
        saved_at, message_id = cursors.decode_text(cursor).split(" ")
        at = datetime.fromisoformat(saved_at)
        if at.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC here: an instant past year 9999 there would fail in the driver instead.
        return at.astimezone(UTC), uuid.UUID(message_id)
    except (ValueError, OverflowError):
        raise cursors.invalid_cursor() from None


async def pins_page(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal
) -> MessageList:
    access = await channels.get_access(conn, channel_id, principal)
    rows = await repo.pinned_page(conn, access.id)
    return MessageList(messages=await render(conn, rows, principal), has_more=False)


# -- reactions, pins, bookmarks, read markers ------------------------------


async def _live_for_member(
    conn: AsyncConnection, message_id: uuid.UUID, principal: Principal
) -> tuple[RowMapping, ChannelAccess]:
    row, access = await get_visible(conn, message_id, principal)
    if row["deleted_at"] is not None:
        raise Conflict("The message was deleted", code="message_deleted")
    if not access.is_member:
        raise Forbidden("Join the channel first", code="not_channel_member")
    channels.check_active(access)
    return row, access


async def do_react(
    conn: AsyncConnection, message_id: uuid.UUID, emoji: str, principal: Principal, *, add: bool
) -> None:
    _, access = await _live_for_member(conn, message_id, principal)
    rbac.check_permission(principal.role, "reaction:add")
    if add:
        changed = await repo.add_reaction(conn, message_id, principal.id, emoji)
    elif not await repo.remove_reaction(conn, message_id, principal.id, emoji):
        raise NotFound("You have not reacted with that emoji", code="reaction_not_found")
    else:
        changed = True
    if changed:
        count = await repo.reaction_count(conn, message_id, emoji)
        event = ReactionChanged(
            message_id=message_id, emoji=emoji, user_id=principal.id, count=count
        )
        await log.emit(
            conn,
            "reaction.added" if add else "reaction.removed",
            event,
            channel_id=access.id,
            actor_id=principal.id,
        )


async def do_pin(
    conn: AsyncConnection, message_id: uuid.UUID, principal: Principal, *, pin: bool
) -> None:
    _, access = await _live_for_member(conn, message_id, principal)
    rbac.check_permission(principal.role, "pin:manage")
    if pin:
        changed = await repo.pin(conn, message_id, access.id, principal.id)
    elif not await repo.unpin(conn, message_id):
        raise NotFound("The message is not pinned", code="pin_not_found")
    else:
        changed = True
    if changed:
        await log.emit(
            conn,
            "message.pinned" if pin else "message.unpinned",
            PinChanged(message_id=message_id, user_id=principal.id),
            channel_id=access.id,
            actor_id=principal.id,
        )


async def do_bookmark(
    conn: AsyncConnection, message_id: uuid.UUID, principal: Principal, *, save: bool
) -> None:
    row, access = await get_visible(conn, message_id, principal)
    rbac.check_permission(principal.role, "bookmark:manage_own")
    if save:
        if row["deleted_at"] is not None:
            raise Conflict("The message was deleted", code="message_deleted")
        if not access.is_member:
            raise Forbidden("Join the channel first", code="not_channel_member")
        await repo.bookmark(conn, message_id, principal.id)
    elif not await repo.unbookmark(conn, message_id, principal.id):
        raise NotFound("The message is not saved", code="bookmark_not_found")


async def do_mark_read(
    conn: AsyncConnection, channel_id: uuid.UUID, message_id: uuid.UUID, principal: Principal
) -> ReadOut:
    access = await channels.get_access(conn, channel_id, principal)
    if not access.is_member:
        raise Forbidden("Join the channel first", code="not_channel_member")
    if not await repo.in_channel(conn, message_id, access.id):
        raise NotFound("No such message in this channel", code="message_not_found")
    marker = await channels_repo.set_read_marker(conn, access.id, principal.id, message_id)
    assert access.membership is not None
    view = await channels_repo.channel_view(conn, access.id, principal.id, see_public=False)
    assert view is not None
    read = ReadOut(
        channel_id=access.id,
        last_read_id=marker,
        unread_count=view["unread_count"] or 0,
        mention_count=view["mention_count"] or 0,
    )
    if marker != access.membership["last_read_id"]:
        # Only the reader's own devices learn where they stopped reading, with the counts
        # that follow, so none has to ask for them.
        await log.emit(
            conn,
            "read.updated",
            ReadUpdated(**read.model_dump()),
            channel_id=access.id,
            actor_id=principal.id,
            target_user_id=principal.id,
        )
    return read
