"""A reset email goes out after commit, through a real SMTP server: a slow server holds
neither the user's row nor a transaction, and one that is down gets a truthful
answer (503 `mail_failed`, audited) with nothing else of the reset undone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.admin_users import service
from nchat.app import create_app
from tests.conftest import make_settings
from tests.fixtures.factories import UserFactory
from tests.fixtures.s3 import free_port
from tests.fixtures.smtp import Handler, StartSmtp
from tests.realtime.nodes import eventually


@dataclass
class Stalling(Handler):
    """Holds each message in DATA until the test sets `release` (bounded, so a failing test
    cannot keep the server's thread forever)."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.arrived.set()
        await asyncio.to_thread(self.release.wait, 60)
        return await super().handle_DATA(server, session, envelope)


@asynccontextmanager
async def mail_client(
    database_url: str, tmp_path: Path, smtp: dict[str, object]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        make_settings(database_url, tmp_path, public_url="https://chat.example.org", **smtp)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def audit_actions(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    r = await client.get("/api/admin/audit", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return [(e["action"], e["details"]) for e in r.json()["entries"]]


async def test_a_slow_mail_server_holds_no_row_lock_nor_transaction(
    database_url: str,
    tmp_path: Path,
    smtp_server: StartSmtp,
    make_user: UserFactory,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The send outlasts every check below, however slow the machine.
    monkeypatch.setattr(service, "MAIL_STEP_TIMEOUT_S", 60.0)
    stalling = Stalling()
    smtp = smtp_server(handler=stalling)
    async with mail_client(database_url, tmp_path, smtp.settings()) as client:
        admin = await make_user("admin")
        bob = await make_user()
        url = f"/api/admin/users/{bob.id}/reset-password"
        sending = asyncio.create_task(client.post(url, headers=admin.headers))
        try:

            async def arrived() -> bool:
                return stalling.arrived.is_set()

            await eventually(arrived, what="the mail server has the message")
            # Another transaction can take the user's row at once: no lock is left on it.
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text("SELECT 1 FROM nchat_users WHERE id = :u FOR UPDATE NOWAIT"),
                    {"u": bob.id},
                )
                await conn.execute(
                    sa.text("UPDATE nchat_users SET display_name = 'Robert' WHERE id = :u"),
                    {"u": bob.id},
                )

            async def no_open_transaction() -> bool:
                # The request's connection, had it one, would wait "idle in transaction".
                async with engine.connect() as conn:
                    waiting = await conn.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND state LIKE 'idle in transaction%'"
                        )
                    )
                return waiting == 0

            await eventually(no_open_transaction, what="no transaction open while it sends")
            assert not sending.done()
        finally:
            stalling.release.set()
        r = await sending
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "email" and r.json()["expires_at"]
    (mail,) = smtp.received
    assert mail.rcpt_tos == [bob.email]


async def test_a_mail_server_that_is_down_gets_a_truthful_answer(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    down = {"smtp_host": "127.0.0.1", "smtp_port": free_port()}  # nobody listens there
    async with mail_client(database_url, tmp_path, down) as client:
        admin = await make_user("admin")
        bob = await make_user()
        url = f"/api/admin/users/{bob.id}/reset-password"
        r = await client.post(url, headers=admin.headers)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "mail_failed"
        # The request and the failure are both on record, after the fact.
        (failed, failed_details), (sent, _) = (await audit_actions(client, admin.headers))[:2]
        assert (sent, failed) == ("user.password_reset_sent", "user.password_reset_mail_failed")
        assert failed_details["error"] == r.json()["error"]["details"]["error"]
        # Nothing else changed: bob is still signed in, and the admin can choose another way.
        assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 200
        r = await client.post(url, headers=admin.headers, json={"method": "temporary_password"})
        assert r.status_code == 200, r.text
        assert r.json()["temporary_password"]
