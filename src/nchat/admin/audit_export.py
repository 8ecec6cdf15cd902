"""The audit log as a download, CSV or JSON Lines, streamed a page at a time: memory stays one
page however long the log is, and no connection is held while the client reads."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.admin.schemas import AuditEntry, AuditFilters
from nchat.admin.service import list_audit

PAGE = 500
COLUMNS = ("id", "created_at", "actor_id", "action", "target_type", "target_id", "ip", "details")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(**{**row, "actor_id": str(row["actor_id"]) if row["actor_id"] else None})


def filename(fmt: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"nchat-audit-{stamp}.{fmt}"


def _csv(rows: list[dict[str, Any]], *, header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; quotes commas, quotes, newlines
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        e = entry(row).model_dump(mode="json")
        e["details"] = orjson.dumps(e["details"]).decode()
        writer.writerow(["" if e[c] is None else e[c] for c in COLUMNS])
    return out.getvalue().encode()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(entry(row).model_dump(mode="json")) + b"\n" for row in rows)


async def stream(engine: AsyncEngine, filters: AuditFilters, fmt: str) -> AsyncIterator[bytes]:
    """Entries matching `filters`, newest first. Pages continue below the last id sent, so
    entries written during the download (above the first page) are not in it: the export is
    what the log held when it began."""
    if fmt == "csv":
        yield _csv([], header=True)
    before: int | None = None
    while True:
        async with engine.connect() as conn:
            rows = await list_audit(conn, before_id=before, limit=PAGE, filters=filters)
        if rows:
            yield _csv(rows, header=False) if fmt == "csv" else _jsonl(rows)
        if len(rows) < PAGE:
            return
        before = rows[-1]["id"]
