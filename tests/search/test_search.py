"""Search through HTTP and GraphQL: every operator, stemming and accents, what may be found
by whom, the highlight's escaping, and paging."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.search import repository as search_repository
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api


async def search(
    client: httpx.AsyncClient, user: MadeUser, q: str, **params: Any
) -> dict[str, Any]:
    r = await client.get("/api/search/messages", headers=user.headers, params={"q": q, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def texts(client: httpx.AsyncClient, user: MadeUser, q: str, **params: Any) -> list[str]:
    return [m["text"] for m in (await search(client, user, q, **params))["messages"]]


@pytest.fixture
async def team(client: httpx.AsyncClient, make_user: UserFactory, api: Api) -> dict[str, Any]:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    eve = await make_user(username="eve")
    general = await api.create_channel(ada, "general", members=(bob,))
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    assert r.status_code == 201, r.text
    dm = r.json()
    sent = {
        "release": await api.send(ada, general["id"], "We are deploying the new release tonight"),
        "failed": await api.send(bob, general["id"], "The deployment failed again"),
        "jose": await api.send(ada, general["id"], "José fixed the café bug"),
        "link": await api.send(bob, general["id"], "docs at https://example.com/guide"),
        "plans": await api.send(ada, secret["id"], "secret plans for the launch"),
        "lunch": await api.send(bob, dm["id"], "lunch tomorrow?"),
    }
    return {
        "ada": ada,
        "bob": bob,
        "eve": eve,
        "general": general,
        "secret": secret,
        "dm": dm,
        "sent": sent,
    }


async def test_words_are_stemmed_accents_folded_and_all_required(
    client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    ada = team["ada"]
    assert set(await texts(client, ada, "deployed ")) == {
        "We are deploying the new release tonight",
        "The deployment failed again",
    }
    assert await texts(client, ada, "deploying failed ") == ["The deployment failed again"]
    assert await texts(client, ada, "jose cafe ") == ["José fixed the café bug"]
    assert await texts(client, ada, "JOSÉ ") == ["José fixed the café bug"]


async def test_phrases_exclusions_and_the_prefix_being_typed(
    client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    ada = team["ada"]
    assert await texts(client, ada, '"new release"') == ["We are deploying the new release tonight"]
    assert await texts(client, ada, '"release new"') == []
    assert await texts(client, ada, "deploy -failed ") == [
        "We are deploying the new release tonight"
    ]
    assert await texts(client, ada, 'deploy -"failed again" ') == [
        "We are deploying the new release tonight"
    ]
    assert await texts(client, ada, "rel") == ["We are deploying the new release tonight"]
    assert set(await texts(client, ada, "deploym")) == {"The deployment failed again"}


async def test_operators(
    client: httpx.AsyncClient, team: dict[str, Any], api: Api, make_user: UserFactory
) -> None:
    ada, bob = team["ada"], team["bob"]
    general, sent = team["general"], team["sent"]
    assert set(await texts(client, ada, "from:@bob")) == {
        "The deployment failed again",
        "docs at https://example.com/guide",
        "lunch tomorrow?",
    }
    assert await texts(client, ada, "from:bob deployment ") == ["The deployment failed again"]
    assert await texts(client, ada, "in:#secret") == ["secret plans for the launch"]
    assert await texts(client, ada, "in:@bob") == ["lunch tomorrow?"]
    assert await texts(client, ada, "has:link") == ["docs at https://example.com/guide"]
    r = await client.post(
        f"/api/messages/{sent['jose']['id']}/reactions", headers=bob.headers, json={"emoji": ":+1:"}
    )
    assert r.status_code in (200, 201), r.text
    assert await texts(client, ada, "has:reaction") == ["José fixed the café bug"]
    r = await client.post(f"/api/messages/{sent['failed']['id']}/pin", headers=ada.headers)
    assert r.status_code in (200, 201, 204), r.text
    assert await texts(client, ada, "is:pinned") == ["The deployment failed again"]
    r = await client.post(f"/api/messages/{sent['link']['id']}/bookmark", headers=ada.headers)
    assert r.status_code in (200, 201, 204), r.text
    assert await texts(client, ada, "is:saved") == ["docs at https://example.com/guide"]
    assert await texts(client, bob, "is:saved") == []
    await api.send(bob, general["id"], "a reply", thread_id=sent["release"]["id"])
    assert set(await texts(client, ada, "is:thread")) == {
        "We are deploying the new release tonight",
        "a reply",
    }
    await api.send(bob, general["id"], "@ada please look")
    assert await texts(client, ada, "mentions:@me") == ["@ada please look"]
    upload = await client.post(
        "/api/files", headers=ada.headers, files={"file": ("n.txt", b"notes", "text/plain")}
    )
    await api.send(ada, general["id"], "the notes", file_ids=[upload.json()["id"]])
    assert await texts(client, ada, "has:file") == ["the notes"]
    assert await texts(client, ada, "has:image") == []
    today = datetime.now(UTC).date()
    assert len(await texts(client, ada, f"on:{today.isoformat()}")) == 9
    assert await texts(client, ada, f"before:{today.isoformat()}") == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert len(await texts(client, ada, f"after:{yesterday} deploy ")) == 2


async def test_only_what_the_caller_can_read_now(
    client: httpx.AsyncClient, team: dict[str, Any], api: Api
) -> None:
    ada, bob, eve = team["ada"], team["bob"], team["eve"]
    secret, sent = team["secret"], team["sent"]
    assert await texts(client, bob, "plans ") == ["secret plans for the launch"]
    assert await texts(client, eve, "plans ") == []  # private, not hers
    assert await texts(client, eve, "lunch ") == []  # someone else's DM
    assert len(await texts(client, eve, "deploy ")) == 2  # public, not joined: readable
    r = await client.delete(f"/api/channels/{secret['id']}/members/{bob.id}", headers=ada.headers)
    assert r.status_code in (200, 204), r.text
    assert await texts(client, bob, "plans ") == []  # a former member
    r = await client.put(
        f"/api/messages/{sent['plans']['id']}", headers=ada.headers, json={"text": "a party"}
    )
    assert r.status_code == 200, r.text
    assert await texts(client, ada, "launch ") == []  # only the current text
    assert await texts(client, ada, "party ") == ["a party"]
    r = await client.delete(f"/api/messages/{sent['jose']['id']}", headers=ada.headers)
    assert r.status_code in (200, 204), r.text
    assert await texts(client, ada, "jose ") == []  # deleted


async def test_results_carry_the_channel_and_an_escaped_highlight(
    client: httpx.AsyncClient, team: dict[str, Any], api: Api
) -> None:
    ada, general = team["ada"], team["general"]
    await api.send(ada, general["id"], "<script>alert(1)</script> deploy & <b>ship</b>")
    body = await search(client, ada, "ship ")
    [hit] = body["messages"]
    assert hit["channel"] == {"id": general["id"], "name": "general", "type": "public"}
    assert hit["highlight"] == (
        "&lt;script&gt;alert(1)&lt;/script&gt; deploy &amp; &lt;b&gt;<mark>ship</mark>&lt;/b&gt;"
    )
    assert hit["user"]["username"] == "ada"
    assert body["estimated_total"] == 1
    jose = await search(client, ada, "jose")
    assert jose["messages"][0]["highlight"] == "<mark>José</mark> fixed the café bug"


@pytest.mark.parametrize("sort", ["recent", "relevance"])
async def test_pages_follow_each_other(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, sort: str
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "many")
    for i in range(7):
        await api.send(ada, channel["id"], f"rollout step {i}" + " rollout" * (i % 3))
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        body = await search(client, ada, "rollout ", **params)
        seen.extend(body["messages"])
        assert body["estimated_total"] == 7
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 == len({m["id"] for m in seen})
    # Best first: by relevance, more mentions of the word; then (and by recent) newest first.
    occurrences = (lambda m: m["text"].count("rollout")) if sort == "relevance" else lambda m: 0
    order = [(occurrences(m), m["id"]) for m in seen]
    assert order == sorted(order, reverse=True)


async def test_recent_pages_from_the_newest_and_from_the_count_agree(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sorted by recent, a page comes from the newest messages when they hold one, else from
    the counted matches; paging through both finds every match once, newest first."""
    monkeypatch.setattr(search_repository, "NEWEST", 4)
    ada = await make_user()
    channel = await api.create_channel(ada, "mixed")
    # Oldest first; the newest four all match, the older ones are sparser.
    pattern = "R O O R O R O R R R R R"
    sent = []
    for i, kind in enumerate(pattern.split()):
        text = f"rollout {i}" if kind == "R" else f"unrelated {i}"
        sent.append((kind, (await api.send(ada, channel["id"], text))["id"]))
    expected = [mid for kind, mid in reversed(sent) if kind == "R"]
    first = await search(client, ada, "rollout ", limit=3)
    # Served by the newest four: the total is extrapolated from them (at least what they hold).
    assert first["estimated_total"] >= 4
    seen = [m["id"] for m in first["messages"]]
    cursor, totals = first["next_cursor"], []
    while cursor:
        body = await search(client, ada, "rollout ", limit=3, cursor=cursor)
        seen.extend(m["id"] for m in body["messages"])
        totals.append(body["estimated_total"])
        cursor = body["next_cursor"]
    assert seen == expected
    # The second page's newest four hold two matches: it was counted, and exactly.
    assert totals[0] == len(expected)


@pytest.mark.parametrize(
    "q", ['"unbalanced', "foo:bar", "has:banana", "in:#", "from:@", "-", '""', "a & b | !c"]
)
async def test_odd_queries_are_plain_text_never_errors(
    client: httpx.AsyncClient, team: dict[str, Any], q: str
) -> None:
    await search(client, team["ada"], q)


async def test_bad_queries_are_4xx(client: httpx.AsyncClient, team: dict[str, Any]) -> None:
    ada = team["ada"]
    for params in ({"q": "x" * 501}, {"q": ""}, {"q": "   "}, {"q": "a", "cursor": "%%%"}):
        r = await client.get("/api/search/messages", headers=ada.headers, params=params)
        assert 400 <= r.status_code < 500, (params, r.text)
        assert "error" in r.json()


async def test_graphql_search(client: httpx.AsyncClient, team: dict[str, Any]) -> None:
    r = await client.post(
        "/graphql",
        headers=team["bob"].headers,
        json={
            "query": 'query { search(query: "plans ", first: 5) { hits { message { text } '
            "channel { name } highlight } estimatedTotal nextCursor } }"
        },
    )
    assert r.status_code == 200, r.text
    page = r.json()["data"]["search"]
    assert page["hits"] == [
        {
            "message": {"text": "secret plans for the launch"},
            "channel": {"name": "secret"},
            "highlight": "secret <mark>plans</mark> for the launch",
        }
    ]
    assert page["estimatedTotal"] == 1
    r = await client.post(
        "/graphql",
        headers=team["eve"].headers,
        json={"query": 'query { search(query: "plans ") { hits { highlight } } }'},
    )
    assert r.json()["data"]["search"]["hits"] == []


async def test_files_by_name_and_type(
    client: httpx.AsyncClient, team: dict[str, Any], api: Api
) -> None:
    ada, bob, eve = team["ada"], team["bob"], team["eve"]
    r = await client.post(
        "/api/files", headers=ada.headers, files={"file": ("Résumé.txt", b"cv", "text/plain")}
    )
    record = r.json()
    find = "/api/search/files"
    mine = await client.get(find, headers=ada.headers, params={"q": "resume"})
    assert [f["id"] for f in mine.json()["files"]] == [record["id"]]
    theirs = await client.get(find, headers=bob.headers, params={"q": "resume"})
    assert theirs.json()["files"] == []  # not attached yet: the uploader's alone
    await api.send(ada, team["secret"]["id"], "cv", file_ids=[record["id"]])
    theirs = await client.get(find, headers=bob.headers, params={"q": "text/plain"})
    assert [f["id"] for f in theirs.json()["files"]] == [record["id"]]
    outsider = await client.get(find, headers=eve.headers, params={"q": "resume"})
    assert outsider.json()["files"] == []


async def test_unspaced_scripts_match_as_substrings(
    client: httpx.AsyncClient, team: dict[str, Any], api: Api
) -> None:
    ada, general = team["ada"], team["general"]
    await api.send(ada, general["id"], "今日は晴れです")
    body = await search(client, ada, "晴れ")
    assert [m["text"] for m in body["messages"]] == ["今日は晴れです"]
    assert body["messages"][0]["highlight"] == "今日は<mark>晴れ</mark>です"


@pytest.mark.parametrize("sort", ["recent", "relevance"])
async def test_frequent_words_page_from_the_newest(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    sort: str,
) -> None:
    """More matches than are counted (1,000): recent pages walk back from the newest, and
    relevance ranks the newest 1,000."""
    ada = await make_user()
    channel = await api.create_channel(ada, "busy")
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                """
                INSERT INTO nchat_messages (id, channel_id, user_id, text)
                SELECT ('01930000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, :c, :u,
                       'standup notes ' || n || repeat(' standup', n % 3)
                FROM generate_series(1, 1500) AS n
                """
            ),
            {"c": uuid.UUID(channel["id"]), "u": ada.id},
        )
    body = await search(client, ada, "standup ", sort=sort, limit=10)
    assert body["estimated_total"] == 1000 and body["total_capped"] is True
    numbers = [int(m["text"].split()[2]) for m in body["messages"]]
    if sort == "recent":
        assert numbers == list(range(1500, 1490, -1))
    else:
        # The best ranked (the word three times) among the newest 1,000.
        assert all(n % 3 == 2 and n > 500 for n in numbers), numbers
    following = await search(
        client, ada, "standup ", sort=sort, limit=10, cursor=body["next_cursor"]
    )
    more = [int(m["text"].split()[2]) for m in following["messages"]]
    assert len(more) == 10 and not set(more) & set(numbers)
