"""The "missed messages" email: what one person missed while away, in one message.

Plain text and HTML alternatives with the same content, grouped by conversation, the latest
MAX_SHOWN messages at most, times in the person's zone. The HTML uses inline styles only (mail
clients drop style sheets) and loads nothing from outside; every string in it is escaped
except a message's `html`, which is the server's sanitised rendering (and goes through the
same sanitiser again here, so nothing else can slip in). Headers for mail clients and
providers: List-Unsubscribe with RFC 8058 one-click, Auto-Submitted (RFC 3834) so
auto-responders stay quiet."""

from __future__ import annotations

import enum
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

from nchat.config import Settings
from nchat.messages.render import sanitise
from nchat.notifications.links import base_url, conversation_link
from nchat.notifications.mailer import RawHeader, new_message_id
from nchat.notifications.unsubscribe import unsubscribe_url

MAX_SHOWN = 20
# Names in a subject line are cut to this many characters.
_NAME_LIMIT = 40
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class Kind(enum.StrEnum):
    CHANNEL = "channel"
    DM = "dm"
    GROUP_DM = "group_dm"


@dataclass(frozen=True, slots=True)
class MissedMessage:
    """One message someone missed. `channel_name` is the channel's name without `#`; for a
    DM the other person's name, for a group DM the members' names. `html` is the message's
    stored (sanitised) rendering, `text` its source; `link` opens it in the web client
    (links.message_link)."""

    channel_id: str
    channel_name: str
    kind: Kind
    author_name: str
    sent_at: datetime
    html: str
    text: str
    link: str

    def __post_init__(self) -> None:
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be an aware datetime")


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    address: str
    display_name: str = ""
    timezone: str = "UTC"  # an IANA name; an unknown one means UTC


@dataclass(frozen=True, slots=True)
class _View:
    """What both parts show."""

    subject: str
    recipient: Recipient
    groups: list[list[MissedMessage]]
    total: int
    hidden: int
    zone: tzinfo
    base: str
    unsubscribe: str


def compose(
    settings: Settings,
    recipient: Recipient,
    items: Sequence[MissedMessage],
    *,
    app_name: str | None = None,
) -> EmailMessage:
    """The email for `recipient` about `items` (at least one); the subject names the server
    (branding.app_name) when given."""
    if not items:
        raise ValueError("a digest needs at least one message")
    ordered = sorted(items, key=lambda item: item.sent_at)
    shown = ordered[-MAX_SHOWN:]
    view = _View(
        subject=subject_line(ordered),
        recipient=recipient,
        groups=_groups(shown),
        total=len(ordered),
        hidden=len(ordered) - len(shown),
        zone=_zone(recipient.timezone),
        base=base_url(settings),
        unsubscribe=unsubscribe_url(settings, recipient.user_id),
    )
    message = EmailMessage()
    message["Subject"] = f"[{_short(app_name)}] {view.subject}" if app_name else view.subject
    message["From"] = settings.smtp_from
    message["To"] = Address(
        display_name=_one_line(recipient.display_name), addr_spec=recipient.address
    )
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = new_message_id(settings)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["List-Unsubscribe"] = RawHeader("List-Unsubscribe", f"<{view.unsubscribe}>")
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(_text(view))
    message.add_alternative(_html(view), subtype="html")
    return message


def subject_line(items: Sequence[MissedMessage]) -> str:
    """ "New message in #general", "New message from Ana", "3 new messages from Ana and 1
    other": the most recent author named first."""
    latest = max(items, key=lambda item: item.sent_at)
    if len(items) == 1:
        if latest.kind is Kind.CHANNEL:
            return f"New message in #{_short(latest.channel_name)}"
        return f"New message from {_short(latest.author_name)}"
    authors = {_short(item.author_name): None for item in sorted(items, key=_newest_first)}
    first, others = next(iter(authors)), len(authors) - 1
    who = first if not others else f"{first} and {others} other{'s' if others > 1 else ''}"
    return f"{len(items)} new messages from {who}"


def _newest_first(item: MissedMessage) -> float:
    return -item.sent_at.timestamp()


def _groups(items: Sequence[MissedMessage]) -> list[list[MissedMessage]]:
    """Conversations in the order of their first message, each in time order."""
    groups: dict[str, list[MissedMessage]] = {}
    for item in items:
        groups.setdefault(item.channel_id, []).append(item)
    return list(groups.values())


def _title(item: MissedMessage) -> str:
    name = _one_line(item.channel_name)
    if item.kind is Kind.CHANNEL:
        return f"#{name}"
    if item.kind is Kind.DM:
        return f"Direct messages with {name}"
    return f"Group conversation with {name}"


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return UTC


def when(moment: datetime, zone: tzinfo) -> str:
    """ "Mon 3 Mar 2025, 14:05 CET", spelled the same whatever the process's locale."""
    local = moment.astimezone(zone)
    day = f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"
    return f"{day}, {local:%H:%M} {local.tzname() or ''}".rstrip()


def _one_line(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _short(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= _NAME_LIMIT else text[: _NAME_LIMIT - 1] + "…"


def _intro(recipient: Recipient, total: int) -> str:
    greeting = f"Hi {_one_line(recipient.display_name)}," if recipient.display_name else "Hi,"
    count = "a new message" if total == 1 else f"{total} new messages"
    return f"{greeting} you have {count} in nchat that you have not read yet."


_FOOTER = "You get this email because you were away when these messages arrived."


def _text(view: _View) -> str:
    lines = [_intro(view.recipient, view.total), ""]
    for group in view.groups:
        title = _title(group[0])
        lines += [title, "-" * min(len(title), 60)]
        for item in group:
            lines.append(f"{_one_line(item.author_name)}, {when(item.sent_at, view.zone)}")
            lines += [f"    {line}".rstrip() for line in item.text.strip().splitlines()]
            lines += [f"    Open: {item.link}", ""]
    if view.hidden:
        lines += [f"And {view.hidden} more: {view.base}/", ""]
    lines += ["-- ", _FOOTER, f"Unsubscribe from these emails: {view.unsubscribe}"]
    return "\n".join(lines) + "\n"


_BODY = "margin:0;padding:0;background-color:#f3f4f6;"
_CARD = (
    "max-width:600px;margin:0 auto;background-color:#ffffff;border-radius:8px;"
    "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "font-size:15px;line-height:1.5;color:#111827;"
)
_H2 = "margin:24px 0 8px;font-size:16px;"
_LINK = "color:#2563eb;text-decoration:none;"
_ITEM = "margin:0 0 12px;padding:8px 12px;border-left:3px solid #d1d5db;"
_META = "margin:0 0 4px;font-size:13px;color:#4b5563;"
_SMALL = "margin:24px 0 0;font-size:12px;color:#6b7280;"


def _html(view: _View) -> str:
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(view.subject)}</title></head>"
        f'<body style="{_BODY}"><div style="padding:16px;">'
        f'<div style="{_CARD}"><div style="padding:24px;">'
        f'<p style="margin:0;">{escape(_intro(view.recipient, view.total))}</p>'
    ]
    for group in view.groups:
        href = escape(conversation_link(view.base, group[0].channel_id))
        parts.append(
            f'<h2 style="{_H2}"><a href="{href}" style="{_LINK}">'
            f"{escape(_title(group[0]))}</a></h2>"
        )
        for item in group:
            moment = item.sent_at.astimezone(view.zone)
            parts.append(
                f'<div style="{_ITEM}"><p style="{_META}">'
                f"<strong>{escape(_one_line(item.author_name))}</strong> · "
                f'<a href="{escape(item.link)}" style="{_LINK}">'
                f'<time datetime="{moment.isoformat()}">{escape(when(moment, view.zone))}</time>'
                f"</a></p><div>{sanitise(item.html)}</div></div>"
            )
    if view.hidden:
        parts.append(
            f'<p style="margin:16px 0 0;"><a href="{escape(view.base)}/" style="{_LINK}">'
            f"And {view.hidden} more in nchat</a></p>"
        )
    parts.append(
        f'<p style="{_SMALL}">{escape(_FOOTER)} '
        f'<a href="{escape(view.unsubscribe)}" style="color:#6b7280;">'
        "Unsubscribe from these emails</a></p>"
        "</div></div></div></body></html>"
    )
    return "\n".join(parts) + "\n"
