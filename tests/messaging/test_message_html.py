"""A message's `html` over the real API: written by the send, re-rendered by an edit, gone with
a delete; the same in every read, event, sync page and GraphQL answer; the XSS corpus through
the HTTP send; rows written before html was stored, rendered on read and filled by
housekeeping (decision 0035)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from nchat.messages import content
from nchat.storage import make_storage
from nchat.tables.messages import messages
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.graphql.test_graphql import gql
from tests.messaging.helpers import Api
from tests.messaging.xss import assert_inert, corpus
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.test_gateway import event_of, frame
from tests.sync.test_changes import changes, collect

LINK = 'target="_blank" rel="noopener noreferrer nofollow"'


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    yield server
    await stop_live(server)


async def get_message(client: httpx.AsyncClient, user: MadeUser, message_id: str) -> Any:
    r = await client.get(f"/api/messages/{message_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_send_renders_names_the_author_can_see(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    carol = await make_user(username="carol")  # exists, not in the channel
    general = await api.create_channel(ada, "general", members=(bob,))
    mine = await api.create_channel(ada, "mine", type_="private")
    await api.create_channel(bob, "theirs", type_="private")  # ada cannot see it
    text = (
        "**hi** @bob @Carol @nobody and @here: #general #mine #theirs #nothing :tada:\n"
        "`@bob #general`"
    )
    sent = await api.send(ada, general["id"], text)
    assert sent["text"] == text
    assert sent["html"] == (
        f'<p><strong>hi</strong> <span class="mention" data-user-id="{bob.id}">@bob</span> '
        f'<span class="mention" data-user-id="{carol.id}">@Carol</span> @nobody and '
        '<span class="mention mention-group" data-mention="here">@here</span>: '
        f'<span class="channel" data-channel-id="{general["id"]}">#general</span> '
        f'<span class="channel" data-channel-id="{mine["id"]}">#mine</span> '
        "#theirs #nothing 🎉<br>\n<code>@bob #general</code></p>"
    )
    # Only members are notified; every user who exists is shown as a mention.
    assert sent["mentions"]["user_ids"] == [str(bob.id)]

    reply = await api.send(bob, general["id"], "~~no~~ https://example.com", thread_id=sent["id"])
    assert reply["html"] == (
        f'<p><s>no</s> <a href="https://example.com" {LINK}>https://example.com</a></p>'
    )
    assert (await get_message(client, bob, sent["id"]))["html"] == sent["html"]
    page = await api.history(bob, general["id"])
    assert [m["html"] for m in page["messages"]] == [sent["html"]]
    r = await client.get(f"/api/messages/{sent['id']}/thread", headers=bob.headers)
    assert r.json()["root"]["html"] == sent["html"]
    assert [m["html"] for m in r.json()["replies"]] == [reply["html"]]
    # A plain text is one paragraph, escaped.
    plain = await api.send(ada, general["id"], "a < b & c")
    assert plain["html"] == "<p>a &lt; b &amp; c</p>"
    # Over 1,000 characters: rendered in a worker thread, to the same HTML.
    long = await api.send(ada, general["id"], "@bob " * 250 + "**end**")
    mention = f'<span class="mention" data-user-id="{bob.id}">@bob</span> '
    assert long["html"] == f"<p>{mention * 250}<strong>end</strong></p>"


async def test_the_xss_corpus_through_the_http_send(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    await make_user(username="admin")
    channel = await api.create_channel(ada, "general")
    answered: dict[str, str] = {}
    for case in corpus():
        sent = await api.send(ada, channel["id"], case)
        assert sent["text"] == case
        assert_inert(sent["html"])
        answered[sent["id"]] = sent["html"]
    stored: dict[str, str] = {}
    before = None
    while True:
        more = {"before": before} if before else {}
        page = await api.history(ada, channel["id"], limit=200, **more)
        stored.update({m["id"]: m["html"] for m in page["messages"]})
        if not page["has_more"]:
            break
        before = page["messages"][-1]["id"]
    assert stored == answered


async def test_the_send_stores_the_html_it_answers_with(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    root = await api.send(ada, channel["id"], "a **root**")
    reply = await api.send(ada, channel["id"], "a _reply_", thread_id=root["id"])
    async with engine.connect() as conn:
        stored = dict((await conn.execute(sa.select(messages.c.id, messages.c.html))).all())
    assert {str(k): v for k, v in stored.items()} == {
        root["id"]: "<p>a <strong>root</strong></p>",
        reply["id"]: "<p>a <em>reply</em></p>",
    }


async def test_an_edit_renders_again_and_a_delete_removes_the_html(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    channel = await api.create_channel(ada, "general", members=(bob,))
    sent = await api.send(ada, channel["id"], "plain words")
    assert sent["html"] == "<p>plain words</p>"
    r = await client.put(
        f"/api/messages/{sent['id']}", headers=ada.headers, json={"text": "**now** @bob"}
    )
    assert r.status_code == 200, r.text
    edited = (
        f'<p><strong>now</strong> <span class="mention" data-user-id="{bob.id}">@bob</span></p>'
    )
    assert r.json()["html"] == edited
    assert (await get_message(client, bob, sent["id"]))["html"] == edited
    r = await client.delete(f"/api/messages/{sent['id']}", headers=ada.headers)
    assert r.status_code == 204
    gone = await get_message(client, bob, sent["id"])
    assert gone["text"] is None and gone["html"] is None
    assert (await api.history(bob, channel["id"]))["messages"][0]["html"] is None


async def test_html_in_socket_events_sync_and_graphql(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    channel = await api.create_channel(ada, "general", members=(bob,))
    start = (await changes(client, bob))["cursor"]
    async with websockets.connect(live.ws_url(bob.access_token)) as ws:
        await frame(ws, "hello")
        sent = await api.send(ada, channel["id"], "*hey* @bob")
        created = await event_of(ws, "message.created")
        assert (
            created["data"]["html"]
            == sent["html"]
            == (f'<p><em>hey</em> <span class="mention" data-user-id="{bob.id}">@bob</span></p>')
        )
        r = await client.put(
            f"/api/messages/{sent['id']}", headers=ada.headers, json={"text": "# Title"}
        )
        assert r.status_code == 200
        updated = await event_of(ws, "message.updated")
        assert updated["data"]["html"] == "<h1>Title</h1>"

    seen = await collect(client, bob, start, 1, kind="message.updated")
    # Only the message events are under test; others of the same moments may be there too.
    by_type = {
        e["type"]: e["data"]["html"] for e in seen["events"] if e["type"].startswith("message.")
    }
    assert by_type["message.created"] == sent["html"]
    assert by_type["message.updated"] == "<h1>Title</h1>"

    body = await gql(
        client, bob, "query($c: ID!) { messages(channelId: $c) { id text html } }", c=channel["id"]
    )
    assert body["data"]["messages"] == [
        {"id": sent["id"], "text": "# Title", "html": "<h1>Title</h1>"}
    ]
    r = await client.get("/api/sync/bootstrap", headers=bob.headers)
    [listed] = [c for c in r.json()["channels"] if c["channel"]["id"] == channel["id"]]
    assert [m["html"] for m in listed["messages"]] == ["<h1>Title</h1>"]


async def test_the_openapi_schema_shows_html(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    message = schema["components"]["schemas"]["MessageOut"]
    assert "html" in message["required"]
    assert {t.get("type") for t in message["properties"]["html"]["anyOf"]} == {"string", "null"}


async def test_rows_without_html_are_rendered_on_read_and_filled_by_housekeeping(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
    make_user: UserFactory,
    api: Api,
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    channel = await api.create_channel(ada, "general", members=(bob,))
    texts = ["**old** @bob in #general", "plain old", "`code` :tada:", "deleted **one**"]
    sent = [await api.send(ada, channel["id"], t) for t in texts]
    r = await client.delete(f"/api/messages/{sent[3]['id']}", headers=ada.headers)
    assert r.status_code == 204
    # As an upgrade leaves them: written before the column existed.
    async with engine.begin() as conn:
        await conn.execute(sa.update(messages).values(html=None))

    page = await api.history(bob, channel["id"])
    on_read = {m["id"]: m["html"] for m in page["messages"]}
    assert on_read == {
        sent[0]["id"]: sent[0]["html"],
        sent[1]["id"]: "<p>plain old</p>",
        sent[2]["id"]: "<p><code>code</code> 🎉</p>",
        sent[3]["id"]: None,
    }
    assert (await get_message(client, bob, sent[0]["id"]))["html"] == sent[0]["html"]

    # Two rows a batch: the round goes on until none is left, deleted ones too.
    assert await content.fill_missing_html(engine.begin, batch=2) == 4
    async with engine.connect() as conn:
        stored = dict((await conn.execute(sa.select(messages.c.text, messages.c.html))).all())
    assert stored == {
        texts[0]: sent[0]["html"],
        texts[1]: "<p>plain old</p>",
        texts[2]: "<p><code>code</code> 🎉</p>",
        texts[3]: "<p>deleted <strong>one</strong></p>",
    }
    assert await content.fill_missing_html(engine.begin) == 0
    # The housekeeping round does it.
    async with engine.begin() as conn:
        await conn.execute(sa.update(messages).values(html=None))
    settings = make_settings(database_url, tmp_path)
    await housekeeping.run_once(engine, settings, make_storage(settings))
    async with engine.connect() as conn:
        assert dict((await conn.execute(sa.select(messages.c.text, messages.c.html))).all()) == (
            stored
        )
    assert json.dumps((await api.history(bob, channel["id"]))["messages"]) == json.dumps(
        page["messages"]
    )
