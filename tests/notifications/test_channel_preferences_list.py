"""The list of a person's channel notification settings (the web client's muted marks):
only what differs from the default, only channels they are in, only their own."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api

LIST = "/api/users/me/channel-notification-preferences"


def prefs(channel_id: str) -> str:
    return f"/api/channels/{channel_id}/notification-preferences"


async def test_lists_what_differs_in_channels_still_joined(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ana, ben = await make_user(), await make_user()
    assert (await client.get(LIST, headers=ana.headers)).json() == {"channels": []}
    quiet = await api.create_channel(ana, "quiet-list")
    loud = await api.create_channel(ana, "loud-list")
    plain = await api.create_channel(ana, "plain-list")
    left = await api.create_channel(ben, "left-list", members=(ana,))

    for channel, body in (
        (quiet, {"muted": True}),
        (loud, {"level": "all"}),
        # Set and set back: a row that says the default is not listed.
        (plain, {"level": "nothing"}),
        (plain, {"level": "default"}),
        (left, {"muted": True}),
    ):
        r = await client.put(prefs(channel["id"]), headers=ana.headers, json=body)
        assert r.status_code == 200, r.text
    r = await client.post(f"/api/channels/{left['id']}/leave", headers=ana.headers)
    assert r.status_code == 204, r.text

    listed = (await client.get(LIST, headers=ana.headers)).json()["channels"]
    assert sorted(listed, key=lambda c: c["channel_id"]) == sorted(
        [
            {"channel_id": quiet["id"], "level": "default", "muted": True},
            {"channel_id": loud["id"], "level": "all", "muted": False},
        ],
        key=lambda c: c["channel_id"],
    )
    # Ben's own list holds nothing of Ana's.
    assert (await client.get(LIST, headers=ben.headers)).json() == {"channels": []}
    assert (await client.get(LIST)).status_code == 401
