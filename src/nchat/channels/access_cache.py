"""Channel accesses that let a user post, remembered per process.

A send read the channel and the sender's membership (one round trip) before its write. The
write now checks the facts that decision rested on itself (messages/repository.py:
_STILL_ALLOWED), so a remembered access can stand in for the read: if it has gone stale, the
write refuses, the entry is forgotten, and the send decides again from fresh rows. Only
accesses that allowed a post are kept; a refusal is always decided on fresh rows. Decision
0018."""

from __future__ import annotations

import uuid
from collections import OrderedDict

from nchat.appstate import Key
from nchat.channels.service import ChannelAccess

SIZE = 10_000  # (channel, user) pairs; the least recently used go first


class AccessCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[uuid.UUID, uuid.UUID], ChannelAccess] = OrderedDict()

    def get(self, channel_id: uuid.UUID, user_id: uuid.UUID) -> ChannelAccess | None:
        key = (channel_id, user_id)
        access = self._entries.get(key)
        if access is not None:
            self._entries.move_to_end(key)
        return access

    def remember(self, user_id: uuid.UUID, access: ChannelAccess) -> None:
        self._entries[(access.id, user_id)] = access
        self._entries.move_to_end((access.id, user_id))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, channel_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self._entries.pop((channel_id, user_id), None)


ACCESS_CACHE: Key[AccessCache] = Key("access_cache")
