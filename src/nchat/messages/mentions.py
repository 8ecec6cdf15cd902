"""The names in a message: `@username`, `@channel`, `@here`, and `#channel`, and the mentions
they make. Which of a text's names count is the renderer's to say (render.parse: none in
code, links or escapes); `parse` here reads every name in a raw text."""

from __future__ import annotations

import re
from collections.abc import Iterable
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


NONE = ParsedMentions((), False, False)


def parse(text: str) -> ParsedMentions:
    """The mentions of every @name in a raw text, code included."""
    if "@" not in text:
        return NONE
    return of_names(match.group(1) for match in MENTION_RE.finditer(text))


def of_names(found: Iterable[str]) -> ParsedMentions:
    """The mentions that these @names (as MENTION_RE finds them) make."""
    names: list[str] = []
    channel = here = False
    for raw in found:
        name = raw.lower().rstrip(".")
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
