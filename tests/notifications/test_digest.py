"""The missed-messages email: subject, both parts, escaping, the cap, times in the person's
zone, the headers mail providers look at, and the whole thing through a real SMTP server."""

from __future__ import annotations

import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from nchat.config import Settings
from nchat.notifications import mailer
from nchat.notifications.digest import (
    MAX_SHOWN,
    Kind,
    MissedMessage,
    Recipient,
    compose,
    subject_line,
)
from nchat.notifications.links import base_url, message_link
from nchat.notifications.mailer import RawHeader
from nchat.notifications.unsubscribe import read_token
from tests.fixtures.smtp import StartSmtp

SECRET = "test-secret-key-that-is-long-enough-for-hs256"
BASE = "https://chat.example.org"
T0 = datetime(2025, 3, 3, 13, 5, tzinfo=UTC)
GENERAL = "0197a000-0000-7000-8000-000000000001"
DM = "0197a000-0000-7000-8000-000000000002"
ANA = Recipient(user_id="0197a000-0000-7000-8000-0000000000aa", address="ana@example.com")


def settings(**values: object) -> Settings:
    return Settings(  # type: ignore[arg-type]
        secret_key=SECRET,
        public_url=BASE + "/",
        smtp_from="nchat <notify@chat.example.org>",
        **values,
    )


def item(
    n: int,
    *,
    channel_id: str = GENERAL,
    channel: str = "general",
    kind: Kind = Kind.CHANNEL,
    author: str = "Bo",
    at: datetime | None = None,
) -> MissedMessage:
    message_id = f"0197a000-0000-7000-9000-{n:012d}"
    return MissedMessage(
        channel_id=channel_id,
        channel_name=channel,
        kind=kind,
        author_name=author,
        sent_at=at or T0 + timedelta(minutes=n),
        html=f"<p>message <strong>number {n}</strong></p>",
        text=f"message **number {n}**",
        link=message_link(BASE, channel_id, message_id),
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_subjects() -> None:
    assert subject_line([item(1)]) == "New message in #general"
    assert subject_line([item(1, kind=Kind.DM, channel="Bo")]) == "New message from Bo"
    three = [item(1, author="Bo"), item(2, author="Ana"), item(3, author="Bo")]
    assert subject_line(three) == "3 new messages from Bo and 1 other"
    assert subject_line([*three, item(4, author="Cy")]) == "4 new messages from Cy and 2 others"
    assert subject_line([item(1), item(2)]) == "2 new messages from Bo"


def test_a_subject_stays_one_short_line() -> None:
    subject = subject_line([item(1, channel="evil\r\nBcc: all@example.com" + "x" * 80)])
    assert "\n" not in subject and "\r" not in subject
    assert len(subject) <= len("New message in #") + 40
    assert subject_line([item(1, channel="general\r\nBcc: x")]) == "New message in #general Bcc: x"


def test_both_parts_hold_every_message_grouped_by_conversation() -> None:
    items = [
        item(1),
        item(2, channel_id=DM, channel="Cy", kind=Kind.DM, author="Cy"),
        item(3),
    ]
    message = compose(settings(), ANA, items)
    plain, html = parts(message)
    assert message.get_content_type() == "multipart/alternative"
    for each in items:
        assert each.text in plain
        assert each.link in plain
        assert each.html in html
        assert f'href="{each.link}"' in html
    # One heading per conversation, in the order of its first message; #general's two
    # messages under it.
    assert plain.count("#general\n") == 1
    assert plain.index("#general") < plain.index("number 1") < plain.index("number 3")
    assert plain.index("number 3") < plain.index("Direct messages with Cy")
    assert f'href="{BASE}/#/c/{GENERAL}"' in html
    assert "3 new messages" in plain and "3 new messages" in html


def test_html_escapes_every_name_and_keeps_only_sanitised_markup() -> None:
    hostile = item(
        1,
        channel="<script>alert(1)</script>",
        author='<img src="https://tracker.example/x.png">Mallory',
    )
    # The renderer's html never holds these; were it to, they still would not reach a mail.
    forged = replace(
        hostile, html='<p>hi<script>alert(2)</script><img src="https://tracker.example/y.png"></p>'
    )
    recipient = Recipient(user_id=ANA.user_id, address=ANA.address, display_name="<b>Ana</b>")
    _, html = parts(compose(settings(), recipient, [forged]))
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>Ana" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=&quot;https://tracker.example/x.png&quot;&gt;Mallory" in html
    assert "&lt;b&gt;Ana&lt;/b&gt;" in html
    assert "<p>hi</p>" in html


def test_html_uses_inline_styles_and_loads_nothing() -> None:
    _, html = parts(compose(settings(), ANA, [item(1), item(2)]))
    assert "style=" in html
    for outside in ("<style", "<link", "<img", "src=", "url(", "<script"):
        assert outside not in html


def test_at_most_twenty_messages_the_latest_and_how_many_more() -> None:
    items = [item(n) for n in range(MAX_SHOWN + 5)]
    plain, html = parts(compose(settings(), ANA, items))
    shown = [n for n in range(len(items)) if f"number {n}<" in html]
    assert shown == list(range(5, MAX_SHOWN + 5))
    assert [n for n in range(len(items)) if f"number {n}**" in plain] == shown
    assert f"{MAX_SHOWN + 5} new messages" in plain
    assert f"And 5 more: {BASE}/" in plain
    assert "And 5 more in nchat" in html


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        ("Europe/Berlin", T0, "Mon 3 Mar 2025, 14:05 CET"),
        ("Europe/Berlin", datetime(2025, 7, 1, 22, 30, tzinfo=UTC), "Wed 2 Jul 2025, 00:30 CEST"),
        ("America/New_York", T0, "Mon 3 Mar 2025, 08:05 EST"),
        ("UTC", T0, "Mon 3 Mar 2025, 13:05 UTC"),
        ("Mars/Olympus_Mons", T0, "Mon 3 Mar 2025, 13:05 UTC"),
        ("../../etc/passwd", T0, "Mon 3 Mar 2025, 13:05 UTC"),
    ],
)
def test_times_in_the_persons_zone(zone: str, at: datetime, expected: str) -> None:
    recipient = Recipient(user_id=ANA.user_id, address=ANA.address, timezone=zone)
    plain, html = parts(compose(settings(), recipient, [item(1, at=at)]))
    assert f"Bo, {expected}\n" in plain
    assert f">{expected}</time>" in html


def test_headers_for_mail_clients_and_providers() -> None:
    recipient = Recipient(user_id=ANA.user_id, address=ANA.address, display_name="Ana Lima")
    message = compose(settings(), recipient, [item(1)])
    assert message["To"] == "Ana Lima <ana@example.com>"
    assert message["From"] == "nchat <notify@chat.example.org>"
    assert message["Subject"] == "New message in #general"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<[^@>]+@chat\.example\.org>", message["Message-ID"])
    assert message["Date"]
    url = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"])
    assert url
    assert url[1].startswith(f"{BASE}/api/notifications/unsubscribe?token=")
    [token] = parse_qs(urlsplit(url[1]).query)["token"]
    assert read_token(settings(), token) == ANA.user_id
    plain, html = parts(message)
    assert url[1] in plain
    assert f'href="{url[1]}"' in html
    # On the wire the URL stays one literal line: folding would make it RFC 2047 encoded
    # words, which List-Unsubscribe readers do not decode.
    line = f"\r\nList-Unsubscribe: {message['List-Unsubscribe']}\r\n".encode()
    assert line in message.as_bytes(policy=email.policy.SMTP)


def test_a_raw_header_is_one_line() -> None:
    for bad in ("<https://x.example/>\r\nBcc: all@example.com", "<https://x.example/\n>"):
        with pytest.raises(ValueError, match="one-line"):
            RawHeader("List-Unsubscribe", bad)
    with pytest.raises(ValueError, match="one-line"):
        RawHeader("List-Unsubscribe", "<https://x.example/" + "a" * 1000 + ">")


def test_each_digest_has_its_own_message_id() -> None:
    ids = {compose(settings(), ANA, [item(1)])["Message-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_refuses_nothing_to_tell_and_naive_times() -> None:
    with pytest.raises(ValueError, match="at least one"):
        compose(settings(), ANA, [])
    with pytest.raises(ValueError, match="aware"):
        item(1, at=datetime(2025, 3, 3, 13, 5))


def test_base_url_without_a_public_url() -> None:
    assert base_url(Settings(host="10.0.0.5", port=8000)) == "http://10.0.0.5:8000"
    assert base_url(Settings(host="0.0.0.0", port=80)) == "http://localhost:80"
    assert base_url(Settings(host="::1", port=8000)) == "http://[::1]:8000"
    assert base_url(Settings(host="chat.internal", port=8000)) == "http://chat.internal:8000"
    assert base_url(Settings(public_url="https://chat.example.org/")) == BASE


async def test_a_digest_arrives_whole_through_smtp(smtp_server: StartSmtp) -> None:
    server = smtp_server()
    items = [item(n, author="Zoë Ünal") for n in range(3)]
    sent = compose(settings(**server.settings()), ANA, items)
    await mailer.send(settings(**server.settings()), sent)

    [got] = server.received
    assert got.rcpt_tos == [ANA.address]
    for header in ("Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert got.message[header] == sent[header]
    assert got.message["Subject"] == "3 new messages from Zoë Ünal"
    assert f"\nList-Unsubscribe: {sent['List-Unsubscribe']}\n".encode() in got.raw
    assert parts(got.message) == parts(sent)
