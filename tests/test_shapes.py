"""One public shape per resource: the REST model, the GraphQL type and the event payload of a
message, a channel, a user and a file carry the same fields (GraphQL in camelCase), so a
field added to one and forgotten in another fails here."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from strawberry.types.private import is_private

from nchat.channels.events import ChannelInfo
from nchat.channels.schemas import ChannelOut
from nchat.files.schemas import FileOut
from nchat.graphql import types
from nchat.messages.schemas import MessageOut
from nchat.realtime.events import EVENT_DATA
from nchat.users.schemas import UserOut

# REST field -> the GraphQL field that stands for it, where the names differ by more than case.
RENAMED = {"dm_members": "dm_member_ids"}


def _graphql_fields(kind: Any) -> set[str]:
    fields = kind.__strawberry_definition__.fields
    return {field.python_name for field in fields if not is_private(field.type)}


def _rest_fields(model: type[BaseModel]) -> set[str]:
    return {RENAMED.get(name, name) for name in model.model_fields}


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (MessageOut, types.Message),
        (ChannelOut, types.Channel),
        (UserOut, types.User),
        (FileOut, types.File),
    ],
    ids=["message", "channel", "user", "file"],
)
def test_rest_and_graphql_carry_the_same_fields(model: type[BaseModel], kind: Any) -> None:
    assert _rest_fields(model) == _graphql_fields(kind)


def test_events_carry_the_rest_shapes() -> None:
    for name in ("message.created", "message.updated"):
        assert EVENT_DATA[name] is MessageOut
    assert EVENT_DATA["user.updated"] is UserOut
    # Channel events carry what every member sees: the REST channel less the caller's own.
    callers_own = {
        "is_member",
        "channel_role",
        "unread_count",
        "mention_count",
        "last_read_id",
        "last_message_at",
        "dm_members",
    }
    assert set(ChannelInfo.model_fields) == set(ChannelOut.model_fields) - callers_own
