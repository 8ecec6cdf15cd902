"""The mailer against a real SMTP server (aiosmtpd): plain, STARTTLS, AUTH, and how each kind
of failure comes out (transient: try again; permanent: do not)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest

from nchat.config import Settings
from nchat.notifications import mailer
from nchat.notifications.mailer import PermanentMailError, TransientMailError
from tests.fixtures.s3 import free_port
from tests.fixtures.smtp import HOST, SMTP_PASSWORD, SMTP_USER, StartSmtp

SECRET = "test-secret-key-that-is-long-enough-for-hs256"


def settings(**values: object) -> Settings:
    return Settings(secret_key=SECRET, smtp_from="nchat <notify@chat.example.org>", **values)  # type: ignore[arg-type]


def letter(*to: str, subject: str = "Hello") -> EmailMessage:
    message = EmailMessage()
    message["To"] = ", ".join(to or ("ana@example.com",))
    message["Subject"] = subject
    message.set_content("Grüße aus nchat\n")
    return message


def test_configured_needs_a_host() -> None:
    assert not mailer.configured(settings())
    assert mailer.configured(settings(smtp_host="mail.example.org"))


async def test_plain_delivery_fills_in_the_sender_date_and_id(smtp_server: StartSmtp) -> None:
    server = smtp_server()
    await mailer.send(settings(**server.settings()), letter())

    [got] = server.received
    assert got.mail_from == "notify@chat.example.org"
    assert got.rcpt_tos == ["ana@example.com"]
    assert got.message["Subject"] == "Hello"
    assert got.message["From"] == "nchat <notify@chat.example.org>"
    assert got.message["Date"]
    assert re.fullmatch(r"<[^@>]+@chat\.example\.org>", got.message["Message-ID"])
    assert got.message.get_content() == "Grüße aus nchat\n"
    assert (got.tls, got.login) == (False, None)


async def test_starttls_with_the_servers_certificate(smtp_server: StartSmtp) -> None:
    server = smtp_server(starttls=True)
    await mailer.send(settings(**server.settings()), letter(), tls_context=server.client_tls)

    [got] = server.received
    assert got.tls
    assert got.message["Subject"] == "Hello"


async def test_starttls_refuses_a_certificate_nobody_vouches_for(smtp_server: StartSmtp) -> None:
    # The system trust store does not know the test certificate: no retry fixes that.
    server = smtp_server(starttls=True)
    with pytest.raises(PermanentMailError, match="certificate"):
        await mailer.send(settings(**server.settings()), letter())
    assert server.received == []


async def test_starttls_asked_for_but_not_offered_is_permanent(smtp_server: StartSmtp) -> None:
    server = smtp_server()
    with pytest.raises(PermanentMailError, match="STARTTLS"):
        await mailer.send(settings(**server.settings(smtp_starttls=True)), letter())
    assert server.received == []


async def test_login_over_starttls(smtp_server: StartSmtp) -> None:
    server = smtp_server(starttls=True, auth=True)
    values = server.settings(smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    await mailer.send(settings(**values), letter(), tls_context=server.client_tls)

    [got] = server.received
    assert (got.tls, got.login) == (True, SMTP_USER)


async def test_a_wrong_password_is_permanent(smtp_server: StartSmtp) -> None:
    server = smtp_server(starttls=True, auth=True)
    values = server.settings(smtp_user=SMTP_USER, smtp_password="not-the-password")
    with pytest.raises(PermanentMailError) as caught:
        await mailer.send(settings(**values), letter(), tls_context=server.client_tls)
    assert caught.value.code == 535
    assert server.received == []


async def test_no_login_where_one_is_required_is_permanent(smtp_server: StartSmtp) -> None:
    server = smtp_server(starttls=True, auth=True)
    with pytest.raises(PermanentMailError) as caught:
        await mailer.send(settings(**server.settings()), letter(), tls_context=server.client_tls)
    assert caught.value.code == 530
    assert server.received == []


async def test_a_refused_recipient_is_permanent(smtp_server: StartSmtp) -> None:
    server = smtp_server(refuse={"gone@example.com": "550 5.1.1 No such user"})
    with pytest.raises(PermanentMailError, match=r"gone@example\.com") as caught:
        await mailer.send(settings(**server.settings()), letter("gone@example.com"))
    assert caught.value.code == 550
    assert server.received == []


async def test_a_recipient_refused_for_now_is_transient(smtp_server: StartSmtp) -> None:
    server = smtp_server(refuse={"busy@example.com": "450 4.2.1 Mailbox busy, try later"})
    with pytest.raises(TransientMailError) as caught:
        await mailer.send(settings(**server.settings()), letter("busy@example.com"))
    assert caught.value.code == 450
    assert server.received == []


async def test_some_recipients_refused_is_permanent_as_the_rest_have_it(
    smtp_server: StartSmtp,
) -> None:
    # A retry would give the recipients who got it a second copy.
    server = smtp_server(refuse={"busy@example.com": "450 4.2.1 Mailbox busy"})
    with pytest.raises(PermanentMailError, match=r"busy@example\.com"):
        await mailer.send(
            settings(**server.settings()), letter("ana@example.com", "busy@example.com")
        )
    [got] = server.received
    assert got.rcpt_tos == ["ana@example.com"]


async def test_a_server_that_is_down_is_transient() -> None:
    values = {"smtp_host": HOST, "smtp_port": free_port(), "smtp_starttls": False}
    with pytest.raises(TransientMailError, match="unreachable"):
        await mailer.send(settings(**values), letter())


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, HOST, 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers_times_out_as_transient(silent_server: int) -> None:
    values = {"smtp_host": HOST, "smtp_port": silent_server, "smtp_starttls": False}
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransientMailError):
        await mailer.send(settings(**values), letter(), step_timeout_s=0.3)
    assert loop.time() - started < 5


async def test_sending_without_a_host_is_permanent() -> None:
    with pytest.raises(PermanentMailError, match="not configured"):
        await mailer.send(settings(), letter())
