"""The missed-messages email of one person: every DM and mention of theirs whose email delay
is over and that is still unread, in one message."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from nchat.admin.service import get_config
from nchat.config import Settings
from nchat.notifications import digest, mailer
from nchat.notifications import repository as repo
from nchat.notifications.delivery import Delivery
from nchat.notifications.links import base_url, message_link
from nchat.tables.users import users


async def email_person(delivery: Delivery, user_id: uuid.UUID) -> datetime | None:
    """Send what is due; returns when the next pending email of theirs is due, if any.
    A transient mail failure raises (the job is retried); the rows stay pending."""
    settings = delivery.settings
    async with delivery.engine.begin() as conn:
        rows = await repo.due_emails(conn, user_id, window_s=settings.email_delay_s / 2)
        person = (
            (await conn.execute(sa.select(users).where(users.c.id == user_id))).mappings().first()
        )
        prefs = await repo.get_settings(conn, user_id)
        wanted = person is not None and person["is_active"] and (prefs is None or prefs["email"])
        ended = {
            row["id"]: "deleted" if row["deleted"] else "read"
            for row in rows
            if row["deleted"] or row["read"]
        }
        config = await get_config(conn)
        enabled = config["features"]["email"]
        if not wanted or not enabled or not mailer.configured(settings):
            ended.update({row["id"]: "none" for row in rows})
        items = [row for row in rows if row["id"] not in ended]
        if items and person is not None:
            names = await repo.dm_names(
                conn, [r["channel_id"] for r in items if r["channel_name"] is None], user_id
            )
            message = digest.compose(
                settings,
                digest.Recipient(
                    user_id=str(user_id),
                    address=person["email"],
                    display_name=person["display_name"] or person["username"],
                    timezone=person["timezone"] or "UTC",
                ),
                [_missed(settings, row, names) for row in items],
                app_name=config["branding"]["app_name"],
            )
            try:
                await mailer.send(settings, message)
            except mailer.PermanentMailError:
                ended.update({row["id"]: "failed" for row in items})
                delivery.metrics.notifications.labels("email", "failed").inc(len(items))
            else:
                ended.update({row["id"]: "sent" for row in items})
                delivery.metrics.notifications.labels("email", "sent").inc(len(items))
        # A transient failure raised above: this transaction rolls back, the rows stay
        # pending and the job runs again after its back-off.
        await repo.end_emails(conn, ended)
        return await repo.next_email_due(conn, user_id)


def _missed(
    settings: Settings, row: RowMapping, names: dict[uuid.UUID, str]
) -> digest.MissedMessage:
    kind = {"direct": digest.Kind.DM, "group": digest.Kind.GROUP_DM}.get(
        row["channel_type"], digest.Kind.CHANNEL
    )
    name = row["channel_name"] or names.get(row["channel_id"], "")
    channel_id, message_id = str(row["channel_id"]), str(row["message_id"])
    return digest.MissedMessage(
        channel_id=channel_id,
        channel_name=name,
        kind=kind,
        author_name=row["author_name"],
        sent_at=row["created_at"],
        html=row["html"] or "",
        text=row["text"] or "",
        link=message_link(base_url(settings), channel_id, message_id),
    )
