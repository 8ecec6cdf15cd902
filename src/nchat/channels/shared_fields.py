"""The fields of a channel that every viewer sees alike, remembered per process by row version.

A channel list of 500 rows spent a tenth of its time having PostgreSQL send, and the driver
decode, each channel's name, topic, description and the rest again, though they change
seldom. The list now reads, per channel, only what is the caller's own (membership, counts,
read marker) and the row's version, `xmin`: the id of the transaction that wrote that
version of the row. A committed version's `xmin` names it: any later committed change to the
row (a rename, an archive, a member joining) is a new version with another `xmin`, and only
fields read at the same version are used. Only statements that see committed rows alone
(autocommit) may use or fill this. Decision 0022.

This is one of the copies `listing.py` keeps for the list (`ListCopies`): the list looks each
channel up here by the version its statement read, and remembers the fields it had to read
(`repository.shared_of`) at the version they were read at."""

from __future__ import annotations

from typing import Any

SIZE = 10_000  # channels; the first remembered go first


class SharedFields:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: dict[str, tuple[int, dict[str, Any]]] = {}

    def get(self, channel_id: str, version: int) -> dict[str, Any] | None:
        entry = self._entries.get(channel_id)
        if entry is None or entry[0] != version:
            return None
        return entry[1]

    def remember(self, channel_id: str, version: int, fields: dict[str, Any]) -> None:
        self._entries.pop(channel_id, None)
        self._entries[channel_id] = (version, fields)
        while len(self._entries) > self.size:
            del self._entries[next(iter(self._entries))]
