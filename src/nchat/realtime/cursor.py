"""Opaque, totally ordered positions in the event log.

A position (x, i, t) says: every event of a transaction with id below x has been delivered,
plus those of transaction x with event id up to i; t is when that was true (unix seconds),
which tells whether the log still holds what comes after it (retention)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nchat.cursors import decode_text, encode_text, invalid_cursor

# Each part is a bigint in the database: ASCII digits only (int() would take "+1", "1_0",
# spaces and other scripts' digits) and at most 2**63 - 1.
_PARTS = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})\.([0-9]{1,19})")
MAX_PART = 2**63 - 1


@dataclass(frozen=True, order=True)
class Position:
    xid: int
    id: int
    at: int

    def encode(self) -> str:
        return encode_text(f"{self.xid}.{self.id}.{self.at}")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        parts = _PARTS.fullmatch(decode_text(cursor))
        if parts is None:
            raise invalid_cursor()
        xid, ident, at = (int(part) for part in parts.groups())
        if max(xid, ident, at) > MAX_PART:
            raise invalid_cursor()
        return cls(xid, ident, at)
