"""Saved messages (`GET /api/bookmarks`): newest saved first, paged by a cursor on when each
was saved, so saving or unsaving while paging neither repeats nor skips one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.cursors import encode_text
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api


async def save(client: httpx.AsyncClient, user: MadeUser, message: dict[str, Any]) -> None:
    r = await client.post(f"/api/messages/{message['id']}/bookmark", headers=user.headers)
    assert r.status_code == 204, r.text


async def unsave(client: httpx.AsyncClient, user: MadeUser, message: dict[str, Any]) -> None:
    r = await client.delete(f"/api/messages/{message['id']}/bookmark", headers=user.headers)
    assert r.status_code == 204, r.text


async def page(client: httpx.AsyncClient, user: MadeUser, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/bookmarks", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert (body["next_cursor"] is not None) == body["has_more"]
    return body


def texts(body: dict[str, Any]) -> list[str]:
    return [m["text"] for m in body["messages"]]


async def every_page(client: httpx.AsyncClient, user: MadeUser, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        body = await page(client, user, limit=limit, **({"cursor": cursor} if cursor else {}))
        seen += texts(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_newest_saved_first_not_newest_written(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "saving", members=(bob,)))["id"]
    m = {n: await api.send(ada, cid, f"m{n}") for n in range(1, 6)}
    for n in (3, 1, 5, 2):
        await save(client, bob, m[n])

    assert texts(await page(client, bob)) == ["m2", "m5", "m1", "m3"]
    assert await every_page(client, bob, limit=1) == ["m2", "m5", "m1", "m3"]
    # Saved again after unsaving: the newest saved.
    await unsave(client, bob, m[3])
    await save(client, bob, m[3])
    assert await every_page(client, bob, limit=3) == ["m3", "m2", "m5", "m1"]


async def test_paging_while_saving_and_unsaving_skips_and_repeats_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "paging", members=(bob,)))["id"]
    m = {n: await api.send(ada, cid, f"m{n}") for n in range(1, 7)}
    for n in (1, 2, 3, 4, 5):
        await save(client, bob, m[n])

    first = await page(client, bob, limit=2)
    assert texts(first) == ["m5", "m4"]
    await save(client, bob, m[6])  # newer than every page: shows on a fresh first page
    await unsave(client, bob, m[2])  # further down: simply gone
    rest = await page(client, bob, limit=2, cursor=first["next_cursor"])
    assert texts(rest) == ["m3", "m1"] and not rest["has_more"]


async def test_saved_at_the_same_instant_page_by_message_id(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    """Ties on the saved time (one transaction) are ordered, and paged, by message id."""
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "ties", members=(bob,)))["id"]
    m = {n: await api.send(ada, cid, f"m{n}") for n in range(1, 5)}
    for n in (2, 4, 1, 3):
        await save(client, bob, m[n])
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_bookmarks SET created_at = now() WHERE user_id = :u"),
            {"u": bob.id},
        )
    assert await every_page(client, bob, limit=1) == ["m4", "m3", "m2", "m1"]


@pytest.mark.parametrize(
    "cursor",
    [
        "AAAA",
        encode_text("yesterday 01a21496-2bae-71f5-95d2-b19f8c740301"),
        encode_text("2026-12-05T10:00:00+00:00 not-an-id"),
        encode_text("2026-12-05T10:00:00 01a21496-2bae-71f5-95d2-b19f8c740301"),  # no zone
        encode_text("2026-12-05T10:00:00+00:00"),
        encode_text("9999-12-31T23:00:00-05:00 01a21496-2bae-71f5-95d2-b19f8c740301"),
    ],
)
async def test_a_forged_cursor_is_400(
    client: httpx.AsyncClient, make_user: UserFactory, cursor: str
) -> None:
    bob = await make_user()
    r = await client.get("/api/bookmarks", headers=bob.headers, params={"cursor": cursor})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_cursor"
