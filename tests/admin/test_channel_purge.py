"""An admin's hard delete of a channel, in two parts: at once the channel is gone for everyone
(nothing of it readable or writable through the API), then its contents go in batches, each
its own transaction, and a purge cut short is finished by the next one.

The app here runs on a database of its own and runs no jobs: the test decides when a purge
runs and how far (tests/admin/test_admin_channels.py has the queue's worker do it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import appstate, housekeeping
from nchat.admin_channels import service
from nchat.app import create_app
from nchat.db import migrate
from nchat.db.engine import ENGINE
from tests.conftest import make_settings
from tests.files.helpers import object_keys, storage_of, uploaded
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.nodes import throwaway_database

BASE = "/api/admin/channels"
WORD = "quokka"  # in every message of the doomed channel, for search
BATCH = 3


@dataclass
class Quiet:
    app: FastAPI
    client: httpx.AsyncClient
    users: UserFactory
    api: Api
    engine: AsyncEngine


@pytest.fixture
async def quiet(server_url: str, tmp_path: Path) -> AsyncIterator[Quiet]:
    async with throwaway_database(server_url) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        app = create_app(make_settings(url, tmp_path, job_concurrency=0))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                engine = appstate.get(app, ENGINE)
                yield Quiet(
                    app, client, UserFactory(engine, app.state.settings), Api(client), engine
                )


@dataclass
class Doomed:
    id: str
    messages: list[dict[str, Any]]
    file: dict[str, Any]


async def doomed_channel(q: Quiet, ada: MadeUser, bob: MadeUser) -> Doomed:
    """A public channel with more messages than a few batches: a thread, a reaction, a pin, a
    bookmark, a mention and a file among them."""
    channel = await q.api.create_channel(ada, "doomed", members=(bob,))
    cid = channel["id"]
    file = await uploaded(q.client, ada, b"plans for the channel", "plans.txt")
    sent = [await q.api.send(ada, cid, f"{WORD} with a file", file_ids=[file["id"]])]
    for n in range(7):
        sent.append(await q.api.send(ada if n % 2 else bob, cid, f"{WORD} number {n}"))
    root = sent[1]
    for n in range(3):
        sent.append(await q.api.send(bob, cid, f"{WORD} reply {n}", thread_id=root["id"]))
    sent.append(await q.api.send(ada, cid, f"{WORD} for @{bob.username}"))
    r = await q.client.post(f"/api/messages/{root['id']}/pin", headers=ada.headers)
    assert r.status_code == 200, r.text
    r = await q.client.post(
        f"/api/messages/{root['id']}/reactions", headers=ada.headers, json={"emoji": ":tada:"}
    )
    assert r.status_code == 200, r.text
    r = await q.client.post(f"/api/messages/{root['id']}/bookmark", headers=bob.headers)
    assert r.status_code == 204, r.text
    assert len(sent) > 3 * BATCH
    return Doomed(id=cid, messages=sent, file=file)


async def left_of(engine: AsyncEngine, channel_id: str) -> dict[str, int]:
    """What the database still holds of the channel."""
    counts = {
        "channel": "SELECT count(*) FROM nchat_channels WHERE id = :c",
        "messages": "SELECT count(*) FROM nchat_messages WHERE channel_id = :c",
        "files": "SELECT count(*) FROM nchat_files WHERE channel_id = :c",
        "mentions": "SELECT count(*) FROM nchat_mentions WHERE channel_id = :c",
        "pins": "SELECT count(*) FROM nchat_pinned_messages WHERE channel_id = :c",
        "members": "SELECT count(*) FROM nchat_channel_members WHERE channel_id = :c",
    }
    async with engine.connect() as conn:
        return {
            name: int(await conn.scalar(sa.text(sql), {"c": channel_id}) or 0)
            for name, sql in counts.items()
        }


async def assert_unreachable(
    q: Quiet, doomed: Doomed, admin: MadeUser, members: list[MadeUser], outsider: MadeUser
) -> None:
    """Nothing of the channel through the API, for anyone: not its page, history, messages,
    thread, file, search hits, saved items or lists, and no write to it."""
    cid, root = doomed.id, doomed.messages[1]
    for user in [*members, outsider, admin]:
        for path in (
            f"/api/channels/{cid}",
            f"/api/channels/{cid}/messages",
            f"/api/channels/{cid}/pins",
            f"/api/channels/{cid}/members",
            f"/api/messages/{root['id']}",
            f"/api/messages/{root['id']}/thread",
            f"/api/messages/{doomed.messages[-1]['id']}",
            doomed.file["url"],
        ):
            r = await q.client.get(path, headers=user.headers)
            assert r.status_code == 404, (path, r.text)
        r = await q.client.get("/api/channels", headers=user.headers)
        assert cid not in {c["id"] for c in r.json()["channels"]}, r.text
        r = await q.client.get("/api/search/messages", headers=user.headers, params={"q": WORD})
        assert r.status_code == 200 and r.json()["messages"] == [], r.text
        for path in ("/api/bookmarks", "/api/mentions"):
            r = await q.client.get(path, headers=user.headers)
            assert r.status_code == 200 and r.json()["messages"] == [], (path, r.text)
    for user in members:
        r = await q.client.post(
            "/api/messages", headers=user.headers, json={"channel_id": cid, "text": "still here?"}
        )
        assert r.status_code == 404, r.text
    r = await q.client.post(f"/api/channels/{cid}/join", headers=outsider.headers)
    assert r.status_code == 404, r.text
    r = await q.client.get(BASE, headers=admin.headers)
    assert cid not in {c["id"] for c in r.json()["channels"]}
    for r in (
        await q.client.post(f"{BASE}/{cid}/archive", headers=admin.headers),
        await q.client.delete(f"{BASE}/{cid}", headers=admin.headers),
    ):
        assert r.status_code == 404 and r.json()["error"]["code"] == "channel_not_found"


async def test_a_deleted_channel_is_gone_at_once_and_emptied_in_batches(
    quiet: Quiet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BATCH", BATCH)
    q = quiet
    admin, ada, bob, eve = (
        await q.users("admin"),
        await q.users(),
        await q.users(),
        await q.users(),
    )
    doomed = await doomed_channel(q, ada, bob)

    r = await q.client.delete(f"{BASE}/{doomed.id}", headers=admin.headers)
    assert r.status_code == 202, r.text
    assert r.json() == {"id": doomed.id, "status": "deleting"}
    # Only the members are gone yet; the rest waits for the job, out of everyone's reach.
    left = await left_of(q.engine, doomed.id)
    assert left["members"] == 0 and left["messages"] == len(doomed.messages)
    await assert_unreachable(q, doomed, admin, [ada, bob], eve)
    # The name is free at once.
    again = await q.api.create_channel(ada, "doomed")
    assert (await q.api.history(ada, again["id"]))["messages"] == []

    assert await service.purge(q.engine.begin) == len(doomed.messages)
    assert await left_of(q.engine, doomed.id) == dict.fromkeys(
        ("channel", "messages", "files", "mentions", "pins", "members"), 0
    )
    # The file's object goes the way of every deleted file's: housekeeping removes it.
    assert await object_keys(q.app) != []
    await housekeeping.run_once(q.engine, q.app.state.settings, storage_of(q.app))
    assert await object_keys(q.app) == []
    assert await service.purge(q.engine.begin) == 0  # nothing left to do


async def test_a_purge_cut_short_is_finished_by_the_next(
    quiet: Quiet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BATCH", BATCH)
    q = quiet
    admin, ada, bob, eve = (
        await q.users("admin"),
        await q.users(),
        await q.users(),
        await q.users(),
    )
    doomed = await doomed_channel(q, ada, bob)
    r = await q.client.delete(f"{BASE}/{doomed.id}", headers=admin.headers)
    assert r.status_code == 202, r.text

    # One batch, then the run stops (as a worker that died would): it committed on its own.
    assert await service.purge(q.engine.begin, max_batches=1) == BATCH
    left = await left_of(q.engine, doomed.id)
    assert left["channel"] == 1 and left["messages"] == len(doomed.messages) - BATCH
    await assert_unreachable(q, doomed, admin, [ada, bob], eve)

    assert await service.purge(q.engine.begin) == len(doomed.messages) - BATCH
    assert await left_of(q.engine, doomed.id) == dict.fromkeys(
        ("channel", "messages", "files", "mentions", "pins", "members"), 0
    )
