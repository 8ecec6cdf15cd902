"""Small API helpers for messaging tests: each goes through HTTP like a client would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.factories import MadeUser


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_channel(
        self,
        user: MadeUser,
        name: str,
        *,
        type_: str = "public",
        members: tuple[MadeUser, ...] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/api/channels",
            headers=user.headers,
            json={"name": name, "type": type_, "member_ids": [str(m.id) for m in members], **extra},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def send(
        self, user: MadeUser, channel_id: str, text: str, **extra: Any
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/api/messages",
            headers=user.headers,
            json={"channel_id": channel_id, "text": text, **extra},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def channel(self, user: MadeUser, channel_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/channels/{channel_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def history(self, user: MadeUser, channel_id: str, **params: Any) -> dict[str, Any]:
        r = await self.client.get(
            f"/api/channels/{channel_id}/messages", headers=user.headers, params=params
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body
