"""Control characters a client puts in a request never reach the log raw: no terminal
escapes, NULs or forged lines."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import structlog

from nchat.app import create_app
from nchat.observability import configure_logging
from tests.conftest import make_settings

HOSTILE = "/api/%00x%1b[31mred%1b[2J%e2%80%ae"
RAW = ("\x00", "\x1b", "\u202e")


async def request_log(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> str:
    app = create_app(make_settings(database_url, tmp_path, log_format=fmt, log_level="info"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get(HOSTILE, headers={"User-Agent": "\x1b[31m"})
    assert r.status_code == 404
    return capsys.readouterr().out


async def test_console_log_escapes_the_request_path(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await request_log(database_url, tmp_path, capsys, "console")
    line = next(line for line in out.splitlines() if "request" in line and "status=404" in line)
    assert not any(char in out for char in RAW)
    assert "path=/api/\\x00x\\x1b[31mred\\x1b[2J\\u202e" in line


async def test_json_log_keeps_the_path_escaped_by_json(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await request_log(database_url, tmp_path, capsys, "json")
    assert not any(char in out for char in RAW)
    records = [json.loads(line) for line in out.splitlines() if line]
    record = next(rec for rec in records if rec.get("status") == 404)
    assert record["path"] == "/api/\x00x\x1b[31mred\x1b[2J\u202e"


def test_one_console_event_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "console")
    try:
        log = structlog.get_logger("test")
        log.info("forged\nline\r\x1b[1A", value="a\rb", plain="x\x07y")
        try:
            raise ValueError("bad \x1b[31m input\x00")
        except ValueError:
            log.exception("failed")
    finally:
        configure_logging("warning", "console")  # as the shared app configured it
    out = capsys.readouterr().out
    assert not any(char in out for char in ("\x00", "\x1b", "\x07", "\r"))
    first, *rest = out.splitlines()
    assert first.split(" [info     ] ")[1].startswith("forged\\nline\\r\\x1b[1A")
    assert "value='a\\rb'" in first and "plain=x\\x07y" in first
    # The traceback keeps its lines; what it quotes from the request is escaped.
    assert "ValueError: bad \\x1b[31m input\\x00" in rest[-1]
    assert any(line.startswith("Traceback") for line in rest)
