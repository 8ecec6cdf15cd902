"""The search query language, as users know it from Slack, Mattermost and Zulip.

Words must all match (stemmed: "deploying" finds "deployed"), `"an exact phrase"`, `-word`
or `-"a phrase"` to exclude, and operators: `from:@user`, `in:#channel`, `in:@user` (the DM
with them), `has:file|image|link|reaction`, `is:pinned|thread|saved`, `mentions:@me`,
`before:`, `after:`, `on:` (YYYY-MM-DD). The last word, when the query does not end with a
space, is also taken as a prefix (search as you type). An unknown operator, a value an
operator does not take, or an unbalanced quote is searched as plain text: parsing never
fails."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

MAX_QUERY = 500

HAS = frozenset({"file", "image", "link", "reaction"})
IS = frozenset({"pinned", "thread", "saved"})
# Quoted segments, operators, and bare words, in order.
_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')
_OPERATOR = re.compile(r"([a-z]+):(.+)", re.IGNORECASE)
_NAME = re.compile(r"[\w.\-]{1,64}")
# Scripts written without spaces between words: the word search cannot split them, so
# such a word is searched as a substring instead.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")


@dataclass
class Parsed:
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    excluded_phrases: list[str] = field(default_factory=list)
    prefix: str | None = None
    substrings: list[str] = field(default_factory=list)
    from_users: list[str] = field(default_factory=list)
    in_channels: list[str] = field(default_factory=list)
    in_dms: list[str] = field(default_factory=list)
    has: set[str] = field(default_factory=set)
    is_: set[str] = field(default_factory=set)
    mentions_me: bool = False
    before: date | None = None
    after: date | None = None
    on: date | None = None

    @property
    def has_text(self) -> bool:
        """Whether anything is matched against the words of messages."""
        return bool(self.words or self.phrases or self.prefix)


def parse(query: str) -> Parsed:
    parsed = Parsed()
    text = query if query.count('"') % 2 == 0 else query.replace('"', " ")
    tokens = list(_TOKEN.finditer(text))
    last_bare = None
    if tokens and not text[-1:].isspace():
        final = tokens[-1]
        if final.group(3) is not None and not final.group(3).startswith("-"):
            last_bare = final
    for token in tokens:
        negated, phrase, bare = token.groups()
        if phrase is not None:
            _phrase(parsed, phrase, negated=bool(negated))
        elif token is last_bare and not _operator(parsed, bare):
            _prefix(parsed, bare)
        elif token is not last_bare:
            _bare(parsed, bare)
    return parsed


def _phrase(parsed: Parsed, phrase: str, *, negated: bool) -> None:
    phrase = phrase.strip()
    if not phrase:
        return
    if _UNSPACED.search(phrase):
        if not negated:
            parsed.substrings.append(phrase)
        return
    (parsed.excluded_phrases if negated else parsed.phrases).append(phrase)


def _bare(parsed: Parsed, word: str) -> None:
    if _operator(parsed, word):
        return
    if word.startswith("-") and len(word) > 1:
        parsed.excluded.append(word[1:])
    elif _UNSPACED.search(word):
        parsed.substrings.append(word)
    else:
        parsed.words.append(word)


def _prefix(parsed: Parsed, word: str) -> None:
    if _UNSPACED.search(word):
        parsed.substrings.append(word)
    else:
        parsed.prefix = word


def _operator(parsed: Parsed, token: str) -> bool:
    """Apply `token` if it is an operator with a value it takes; False otherwise."""
    found = _OPERATOR.fullmatch(token)
    if found is None:
        return False
    name, value = found.group(1).lower(), found.group(2)
    if name == "from":
        return _add_name(parsed.from_users, value.removeprefix("@"))
    if name == "in":
        if value.startswith("@"):
            return _add_name(parsed.in_dms, value[1:])
        return _add_name(parsed.in_channels, value.removeprefix("#"))
    if name == "has" and value.lower() in HAS:
        parsed.has.add(value.lower())
        return True
    if name == "is" and value.lower() in IS:
        parsed.is_.add(value.lower())
        return True
    if name == "mentions" and value.lower() in ("@me", "me"):
        parsed.mentions_me = True
        return True
    if name in ("before", "after", "on"):
        day = _date(value)
        if day is None:
            return False
        setattr(parsed, name, day)
        return True
    return False


def _add_name(names: list[str], value: str) -> bool:
    if not _NAME.fullmatch(value):
        return False
    names.append(value)
    return True


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
