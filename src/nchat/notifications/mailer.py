"""Sending one email through the configured SMTP server (aiosmtplib).

Generic on purpose: missed-message digests, password resets and invitations all go through
`send`. Failures come out as one of two errors, so a job knows whether to try again:
`TransientMailError` (the server could not be reached, timed out, or answered 4xx) or
`PermanentMailError` (5xx, or the server and the settings do not fit together)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid, parseaddr

import aiosmtplib

from nchat.config import Settings

# Per SMTP step (connect, each command); a whole send gets a few of them.
DEFAULT_TIMEOUT_S = 30.0
_STEPS_PER_SEND = 4


class MailError(Exception):
    """Sending failed. `code` is the SMTP reply code when the server gave one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientMailError(MailError):
    """Trying again later may succeed."""


class PermanentMailError(MailError):
    """Sending the same message again will fail the same way."""


class RawHeader(str):
    """A header value written exactly as given, on one line. The email package folds a long
    header, and one with a token longer than a line (a URL) it turns into RFC 2047 encoded
    words, which List-Unsubscribe readers do not decode. Having `name` and `fold` makes it a
    header object to the email package, which then writes it with `fold`."""

    name: str

    def __new__(cls, name: str, value: str) -> RawHeader:
        # A line break would start a header of the value's choosing; 998 is RFC 5322's limit.
        if "\r" in value or "\n" in value or len(name) + 2 + len(value) > 998:
            raise ValueError(f"{name}: not a one-line header value")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def new_message_id(settings: Settings) -> str:
    """A Message-ID in the sender's domain (never the machine's name, which would leak and
    costs a DNS lookup)."""
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


async def send(
    settings: Settings,
    message: EmailMessage,
    *,
    tls_context: ssl.SSLContext | None = None,
    step_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Send `message` to the recipients in its To/Cc/Bcc headers.

    From, Date and Message-ID are filled in when the message lacks them. `tls_context`
    replaces the system's trust store for STARTTLS (tests trust their own certificate)."""
    if not configured(settings):
        raise PermanentMailError("email is not configured (NCHAT_SMTP_HOST)")
    if "From" not in message:
        message["From"] = settings.smtp_from
    if "Date" not in message:
        message["Date"] = format_datetime(datetime.now(UTC))
    if "Message-ID" not in message:
        message["Message-ID"] = new_message_id(settings)
    try:
        # aiosmtplib's timeout bounds each step; this bounds a server that answers every step
        # just in time.
        async with asyncio.timeout(step_timeout_s * _STEPS_PER_SEND):
            refused, _ = await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                # Logs in only when a user is set.
                username=settings.smtp_user or None,
                password=settings.smtp_password if settings.smtp_user else None,
                # Never opportunistic: without the setting the session stays plain, so a
                # relay with a certificate nobody can check still works when asked to.
                start_tls=settings.smtp_starttls,
                tls_context=tls_context,
                timeout=step_timeout_s,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        # Every recipient was refused: nobody has the message, so a retry duplicates nothing
        # and may reach those refused for now (4xx).
        codes = [refusal.code for refusal in exc.recipients]
        error = TransientMailError if any(map(_temporary, codes)) else PermanentMailError
        raise error(f"recipients refused: {_replies(exc.recipients)}", code=max(codes)) from exc
    except Exception as exc:
        raise _classify(exc) from exc
    if refused:
        # Some recipients have it already: sending again would give them a second copy.
        replies = "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in refused.items())
        code = max(reply.code for reply in refused.values())
        raise PermanentMailError(f"some recipients refused: {replies}", code=code)


def _classify(exc: Exception) -> MailError:
    if _untrusted_certificate(exc):
        return PermanentMailError(f"the SMTP server's certificate is not trusted: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        error = TransientMailError if _temporary(exc.code) else PermanentMailError
        return error(f"SMTP server answered {exc.code} {exc.message}", code=exc.code)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return TransientMailError(f"SMTP server unreachable: {exc!r}")
    if isinstance(exc, aiosmtplib.SMTPException):
        # The server lacks what the settings ask for (STARTTLS, AUTH): no retry fixes that.
        return PermanentMailError(f"SMTP server does not fit the settings: {exc}")
    return PermanentMailError(f"sending failed: {exc!r}")


def _temporary(code: int) -> bool:
    # Anything but a 5xx: 4xx says "later"; odd codes (aiosmtplib uses -1 for a reply it
    # could not read) are treated as a broken session, not a verdict on the message.
    return code < 500


def _untrusted_certificate(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _replies(refusals: list[aiosmtplib.SMTPRecipientRefused]) -> str:
    return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
