"""Server-side parsing of the names in a message: `@username`, `@channel`, `@here`, and
`#channel` (the renderer links those that exist)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# An @ not preceded by a word character (so e-mail addresses are not mentions), then a
# username as users.schemas allows it; a trailing dot ends a sentence, not a name.
MENTION_RE = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9._-]{0,31})", re.IGNORECASE)
SPECIAL = {"channel", "here", "all", "everyone"}
# A # not preceded by a word character, # or & ("C#", "issue#12", "&#64;" are not channels),
# then a channel name as channels.schemas allows it.
CHANNEL_RE = re.compile(r"(?<![\w#&])#([a-z0-9_-]{1,80})", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedMentions:
    usernames: tuple[str, ...]
    channel: bool
    here: bool


def parse(text: str) -> ParsedMentions:
    names: list[str] = []
    channel = here = False
    if "@" not in text:
        return ParsedMentions((), False, False)
    for match in MENTION_RE.finditer(text):
        name = match.group(1).lower().rstrip(".")
        if name in ("channel", "all", "everyone"):
            channel = True
        elif name == "here":
            here = True
        elif len(name) >= 2 and name not in names:
            names.append(name)
    return ParsedMentions(tuple(names), channel, here)


def channel_names(text: str) -> tuple[str, ...]:
    """The `#names` of a text, lower-case, each once."""
    if "#" not in text:
        return ()
    return tuple(dict.fromkeys(m.group(1).lower() for m in CHANNEL_RE.finditer(text)))
