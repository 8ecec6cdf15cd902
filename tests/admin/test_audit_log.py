"""The audit log through HTTP: filters, paging, and the CSV and JSON Lines exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.admin import audit_export
from nchat.admin.service import audit as write_audit
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

AUDIT = "/api/admin/audit"
EXPORT = "/api/admin/audit/export"


async def entries(client: httpx.AsyncClient, user: MadeUser, **params: Any) -> list[dict[str, Any]]:
    """Every matching entry, newest first, walking the pages."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
        r = await client.get(AUDIT, headers=user.headers, params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["entries"]) <= 2
        found += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def make_history(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> tuple[MadeUser, MadeUser, dict[str, Any], dict[str, Any]]:
    """Two admins acting on two channels: archive, unarchive, visibility."""
    ann = await make_user("admin")
    oz = await make_user("owner")
    ada = await make_user()
    one = await api.create_channel(ada, "one")
    two = await api.create_channel(ada, "two")
    for user, path in (
        (ann, f"{one['id']}/archive"),
        (oz, f"{two['id']}/archive"),
        (ann, f"{one['id']}/unarchive"),
        (oz, f"{two['id']}/visibility"),
    ):
        body = {"private": True} if path.endswith("visibility") else None
        r = await client.post(f"/api/admin/channels/{path}", headers=user.headers, json=body)
        assert r.status_code == 200, r.text
    return ann, oz, one, two


async def test_filters(client: httpx.AsyncClient, make_user: UserFactory, api: Api) -> None:
    ann, oz, one, two = await make_history(client, make_user, api)
    everything = await entries(client, ann)
    assert [e["action"] for e in everything] == [
        "channel.visibility_changed",
        "channel.unarchived",
        "channel.archived",
        "channel.archived",
    ]
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)

    def ids(found: list[dict[str, Any]]) -> list[int]:
        return [e["id"] for e in found]

    archived = await entries(client, ann, action="channel.archived")
    assert ids(archived) == ids([e for e in everything if e["action"] == "channel.archived"])
    assert ids(await entries(client, ann, action="channel.")) == ids(everything)
    assert await entries(client, ann, action="channel") == []  # no dot: an exact name
    assert await entries(client, ann, action="chan%.") == []  # LIKE characters are text
    by_oz = await entries(client, ann, actor_id=str(oz.id))
    assert {e["actor_id"] for e in by_oz} == {str(oz.id)} and len(by_oz) == 2
    on_one = await entries(client, ann, target=one["id"])
    assert [e["action"] for e in on_one] == ["channel.unarchived", "channel.archived"]
    both = await entries(
        client, ann, target=two["id"], action="channel.archived", target_type="channel"
    )
    assert len(both) == 1 and both[0]["actor_id"] == str(oz.id)
    assert await entries(client, ann, target=two["id"], target_type="user") == []

    middle = everything[2]["created_at"]
    since = await entries(client, ann, since=middle)
    assert ids(since) == ids(everything[:3])  # inclusive
    until = await entries(client, ann, until=middle)
    assert ids(until) == ids(everything[3:])  # exclusive
    naive = datetime.fromisoformat(middle).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert ids(await entries(client, ann, since=naive)) == ids(since)  # no zone: UTC
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await entries(client, ann, since=later) == []


def parse_csv(text: str) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        row["id"] = int(row["id"])
        row["details"] = json.loads(row["details"])
        for key in ("actor_id", "target_type", "target_id", "ip"):
            row[key] = row[key] or None
    return rows


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        k: entry[k] for k in ("id", "action", "actor_id", "target_type", "target_id", "details")
    }


async def test_exports_match_the_filtered_entries(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ann, oz, one, _ = await make_history(client, make_user, api)
    awkward = {"note": 'commas, "quotes"\nand a new line', "n": [1, 2]}
    async with engine.begin() as conn:
        await write_audit(
            conn,
            "channel.noted",
            actor_id=oz.id,
            target_type="channel",
            target_id="line one,\nline two",
            details=awkward,
        )
    wanted = await entries(client, ann, action="channel.")
    assert wanted[0]["details"] == awkward

    r = await client.get(
        EXPORT, headers=ann.headers, params={"format": "csv", "action": "channel."}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="nchat-audit-')
    assert disposition.endswith('.csv"')
    assert r.text.splitlines()[0] == ",".join(audit_export.COLUMNS)
    rows = parse_csv(r.text)
    assert [comparable(row) for row in rows] == [comparable(e) for e in wanted]
    assert rows[0]["target_id"] == "line one,\nline two" and rows[0]["details"] == awkward
    assert [row["created_at"] for row in rows] == [e["created_at"] for e in wanted]

    r = await client.get(
        EXPORT, headers=ann.headers, params={"format": "jsonl", "actor_id": str(ann.id)}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["content-disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in r.text.splitlines()]
    by_ann = await entries(client, ann, actor_id=str(ann.id))
    assert lines == by_ann
    # Each export is recorded before it reads: this one, then the CSV one.
    assert [line["action"] for line in lines[:2]] == ["audit.exported", "audit.exported"]
    assert lines[0]["details"]["format"] == "jsonl"
    assert lines[1]["details"]["format"] == "csv"
    assert lines[1]["details"]["filters"]["action"] == "channel."

    r = await client.get(
        EXPORT,
        headers=ann.headers,
        params={"format": "jsonl", "target": one["id"], "until": "2000-01-01T00:00:00Z"},
    )
    assert r.status_code == 200 and r.text == ""
    r = await client.get(EXPORT, headers=ann.headers, params={"target": one["id"]})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"  # CSV by default
    assert len(parse_csv(r.text)) == 2


async def test_export_reads_a_page_at_a_time(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = await make_user("owner")
    async with engine.begin() as conn:
        for n in range(20):
            await write_audit(conn, "bulk.made", actor_id=None, details={"n": n})
    reads: list[int] = []
    list_audit = audit_export.list_audit

    async def counted(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        reads.append(kwargs["limit"])
        return await list_audit(*args, **kwargs)

    monkeypatch.setattr(audit_export, "PAGE", 7)
    monkeypatch.setattr(audit_export, "list_audit", counted)
    r = await client.get(
        EXPORT, headers=owner.headers, params={"format": "jsonl", "action": "bulk."}
    )
    assert r.status_code == 200, r.text
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["details"]["n"] for line in lines] == list(range(19, -1, -1))
    assert reads == [7, 7, 7]  # 7 + 7 + 6: the short page ends it


@pytest.mark.parametrize("role", ["guest", "member", "moderator"])
async def test_below_admin_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory, role: str
) -> None:
    user = await make_user(role)
    for path in (AUDIT, EXPORT):
        r = await client.get(path, headers=user.headers)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {"until": "0.5"},  # not read as seconds since 1970
        # A valid time whose offset moves it past the calendar's edge: no UTC value.
        {"since": "0001-01-01T00:00:00+01:00"},
        {"until": "9999-12-31T23:00:00-05:00"},
        {"actor_id": "someone"},
        {"action": ""},
        {"action": "x" * 101},
        {"target": "t" * 201},
        {"limit": 0},
        {"cursor": 0},
    ],
)
async def test_bad_filters_are_422(
    client: httpx.AsyncClient, make_user: UserFactory, params: dict[str, Any]
) -> None:
    owner = await make_user("owner")
    for path in (AUDIT, EXPORT):
        if path == EXPORT and {"limit", "cursor"} & params.keys():
            continue  # the export takes every matching entry: no page parameters
        r = await client.get(path, headers=owner.headers, params=params)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"
    r = await client.get(EXPORT, headers=owner.headers, params={"format": "xml"})
    assert r.status_code == 422
