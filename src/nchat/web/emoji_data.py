"""The emoji the web client offers (the reaction picker, `:shortcode:` completion), served as
the asset `data/emoji.json`: `[[emoji, name, alias...], ...]`.

Made from the same library and names (`language="alias"`) the server's renderer turns
`:shortcode:` into emoji with, so whatever the client completes renders. Fully qualified
emoji only, without skin-tone variants, and none newer than Emoji 14 (2021): browsers on
older systems draw those as empty boxes.
"""

from __future__ import annotations

import json

import emoji

NEWEST_EMOJI_VERSION = 14


def emoji_rows() -> list[list[str]]:
    rows: list[list[str]] = []
    for char, data in emoji.EMOJI_DATA.items():
        if data["status"] != emoji.STATUS["fully_qualified"] or data["E"] > NEWEST_EMOJI_VERSION:
            continue
        names: list[str] = []
        for name in (data["en"], *data.get("alias", ())):
            bare = name.strip(":")
            if bare not in names:
                names.append(bare)
        if any("skin_tone" in name for name in names):
            continue
        rows.append([char, *names])
    return rows


def emoji_json() -> bytes:
    return json.dumps(emoji_rows(), ensure_ascii=False, separators=(",", ":")).encode()
