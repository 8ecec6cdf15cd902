"""Opaque, totally ordered positions in the event log.

A position (x, i, t) says: every event of a transaction with id below x has been delivered,
plus those of transaction x with event id up to i; t is when that was true (unix seconds),
which tells whether the log still holds what comes after it (retention)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from nchat.errors import BadRequest


@dataclass(frozen=True, order=True)
class Position:
    xid: int
    id: int
    at: int

    def encode(self) -> str:
        raw = f"{self.xid}.{self.id}.{self.at}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            xid, ident, at = base64.urlsafe_b64decode(padded.encode()).decode().split(".")
            position = cls(int(xid), int(ident), int(at))
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadRequest("The cursor is not valid", code="invalid_cursor") from exc
        if min(position.xid, position.id, position.at) < 0:
            raise BadRequest("The cursor is not valid", code="invalid_cursor")
        return position
