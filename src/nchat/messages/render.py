"""A message's text as HTML, made once on the server and stored beside the text, so every
client shows the same thing and none has to parse Markdown (decision 0035).

Pure: the text and what its names stand for (`Refs`, looked up by the caller in the writing
transaction) in, sanitised HTML out. Markdown as people write it in chat: CommonMark with a
line break for every newline, fenced code with its language, tables, strikethrough and links
found in plain text; raw HTML is shown as text. Then `@username` of a user, `@channel`,
`@here`, `@all`, `#channel` of a channel the author can see, and `:shortcode:` emoji, never
inside code or (for names) inside a link. Whatever the parser made then goes through an
allow-list sanitiser (nh3): the few tags and attributes below, links only to http, https and
mailto, each opening in a new tab without a referrer.

The names a text makes mentions of come from the same parse (`parse`): a name in code, in a
link or escaped is shown as typed and mentions nobody, as Slack, Mattermost and Zulip do."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

import emoji
import nh3
import structlog
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from nchat.messages import mentions
from nchat.messages.mentions import CHANNEL_RE, MENTION_RE, SPECIAL, ParsedMentions

logger = structlog.get_logger("nchat.messages.render")


@dataclass(frozen=True)
class Refs:
    """What the names in a text stand for: users by lower-case username (any user who
    exists), channels by name (those the author may see). A name missing here stays text."""

    users: Mapping[str, uuid.UUID] = field(default_factory=dict)
    channels: Mapping[str, uuid.UUID] = field(default_factory=dict)


NO_REFS = Refs()

# -- the parser ---------------------------------------------------------------------------

_SAFE_URL = re.compile(r"\s*(?:https?|mailto):", re.IGNORECASE)


def _safe_link(url: str) -> bool:
    # Absolute http(s) and mailto only: no javascript:, data: or vbscript:, and no relative
    # links into nchat's own origin. A refused link stays as the text that was typed.
    return _SAFE_URL.match(url) is not None


def _parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark", {"breaks": True, "html": False, "linkify": True, "typographer": False}
    )
    md.enable(["table", "strikethrough", "linkify"])
    # No images (a remote image would tell its host who read the message; files are
    # attachments) and no underlined (setext) headings: a line of dashes under a line of
    # chat is not meant as a heading. `#` headings stay, as in Zulip.
    md.disable(["image", "lheading"])
    md.validateLink = _safe_link  # type: ignore[method-assign]
    # Before text_join: escaped characters (`\@ada`) and entities are still tokens of their
    # own then, so they never start a mention.
    md.core.ruler.before("text_join", "nchat_names", _names_rule)
    md.add_render_rule(NAME, _render_name)
    return md


_CANDIDATE = re.compile(f"{MENTION_RE.pattern}|{CHANNEL_RE.pattern}", re.IGNORECASE)
# A shortcode stands alone: "10:30:45" and "a:b:c" hold no emoji, ":tada::tada:" holds two.
# Which names exist is the emoji library's business (its aliases, as GitHub and Slack
# spell them, and the Unicode names).
_SHORTCODE = re.compile(r"(?<!\w):[^\s:]{1,64}:(?!\w)")
_ALIGN = re.compile(r"text-align:(left|center|right)")


# A name the text may hold (`@ada`, `@here`, `#general`): a token of its own, made when the
# text is parsed, whatever the names stand for. What it stands for is known at render time
# (`Refs`, in the renderer's env); a name that stands for nothing renders as its text.
NAME = "nchat_name"


def _names_rule(state: StateCore) -> None:
    for block in state.tokens:
        if block.type in ("th_open", "td_open") and "style" in block.attrs:
            # Alignment as an attribute: style attributes never leave the sanitiser.
            found = _ALIGN.fullmatch(str(block.attrs.pop("style")))
            if found:
                block.attrs["align"] = found.group(1)
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        links = 0
        # Only `text` tokens: code spans, fenced and indented code are tokens of other types,
        # so a name in code is never a name.
        for token in block.children:
            if token.type == "link_open":
                links += 1
            elif token.type == "link_close":
                links -= 1
            if (
                token.type == "text"
                and ("@" in token.content or "#" in token.content)
                and not links
            ):
                children.extend(_split(token.content))
            elif token.type == "text" and ":" in token.content:
                token.content = _emojize(token.content)
                children.append(token)
            else:
                children.append(token)
        block.children = children


def _split(text: str) -> list[Token]:
    """A text token as text and name tokens."""
    out: list[Token] = []
    start = 0
    for found in _CANDIDATE.finditer(text):
        user, channel = found.group(1), found.group(2)
        if user is not None:
            name = user.lower().rstrip(".")
            end = found.start() + 1 + len(name)
            kind = "group" if name in SPECIAL else "user"
        else:
            name = channel.lower()
            end = found.end()
            kind = "channel"
        out.extend(_text(text[start : found.start()]))
        typed = text[found.start() : end]
        out.append(Token(NAME, "", 0, content=typed, info=kind, meta={"name": name}))
        start = end
    out.extend(_text(text[start:]))
    return out


def _render_name(
    _renderer: object, tokens: list[Token], idx: int, _options: OptionsDict, env: dict[str, Any]
) -> str:
    token = tokens[idx]
    refs: Refs = env.get("refs", NO_REFS)
    name = token.meta["name"]
    text = escapeHtml(token.content)
    if token.info == "group":
        attrs = f'class="mention mention-group" data-mention="{name}"'
    elif token.info == "user" and name in refs.users:
        attrs = f'class="mention" data-user-id="{refs.users[name]}"'
    elif token.info == "channel" and name in refs.channels:
        attrs = f'class="channel" data-channel-id="{refs.channels[name]}"'
    else:
        return text
    return f"<span {attrs}>{text}</span>"


def _names(tokens: list[Token]) -> tuple[list[str], list[str]]:
    """The @names and the #names of a parsed text, in order, as typed (lower-case)."""
    users: list[str] = []
    channels: list[str] = []
    for block in tokens:
        for token in block.children or ():
            if token.type == NAME:
                (channels if token.info == "channel" else users).append(token.meta["name"])
    return users, channels


def _text(content: str) -> list[Token]:
    if not content:
        return []
    return [Token("text", "", 0, content=_emojize(content) if ":" in content else content)]


def _emojize(text: str) -> str:
    return _SHORTCODE.sub(lambda m: emoji.emojize(m.group(), language="alias"), text)


_MD = _parser()

# -- the sanitiser ------------------------------------------------------------------------

_CODE_CLASS = re.compile(r"language-[\w#+.-]{1,64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Values the allow-list cannot spell: a code block's language, the ids of names."""
    if name == "class" and tag == "code":
        return value if _CODE_CLASS.fullmatch(value) else None
    if name in ("data-user-id", "data-channel-id"):
        return value if _UUID.fullmatch(value) else None
    return value


_CLEANER = nh3.Cleaner(
    tags={
        *("p", "br", "hr", "blockquote", "pre", "code", "strong", "em", "s", "span", "a"),
        *("ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    },
    clean_content_tags={"script", "style"},
    attributes={
        "*": set(),  # nothing on every tag (the library's default allows lang and title)
        "a": {"href", "title"},
        "ol": {"start"},
        "code": {"class"},
        "span": {"data-user-id", "data-channel-id"},
    },
    attribute_filter=_attribute,
    tag_attribute_values={
        "th": {"align": {"left", "center", "right"}},
        "td": {"align": {"left", "center", "right"}},
        "span": {"data-mention": SPECIAL},
    },
    allowed_classes={"span": {"mention", "mention-group", "channel"}},
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    # Every link leads out of nchat: users and channels are spans, which clients make
    # clickable by their data-user-id / data-channel-id.
    set_tag_attribute_values={"a": {"target": "_blank"}},
)


# -- the one entry point ------------------------------------------------------------------

# A one-line text that Markdown and the sanitiser leave as it is: its HTML is the text in a
# paragraph, without parsing it. It starts with a letter or a digit (not a list's "1."),
# holds letters, digits, spaces, emoji and punctuation that means nothing here, and ends
# without a space; a full stop or colon is followed by a space ("example.com" is a link,
# ":tada:" an emoji). tests/messaging/test_render.py checks it against the parser.
_PLAIN = re.compile(
    r"(?!\d+[.)])[^\W_]"
    r"(?:[^\W_]|[ ,;?!'\"()-]|[.:](?= |\Z)|[\u2600-\u27bf\ufe0f\U0001f000-\U0001faff])*"
    r"(?<! )"
)


@dataclass(frozen=True)
class Parsed:
    """A text parsed once: the mentions it makes and the channels it names, outside code,
    links and escapes, and its tokens, which `html` renders once the names are looked up.
    No tokens: a plain text (no parser needed), or one the parser failed on."""

    text: str
    tokens: list[Token] | None
    mentions: ParsedMentions = mentions.NONE
    channel_names: tuple[str, ...] = ()
    failed: bool = False


def parse(text: str) -> Parsed:
    """The text's tokens and the names they hold; what they stand for is looked up next."""
    if _PLAIN.fullmatch(text):  # no `@` or `#` in it: no names
        return Parsed(text, None)
    try:
        tokens = _MD.parse(text, {})
    except Exception:  # a fault of the parser's must not refuse a message: it is shown as text
        logger.exception("message parsing failed", length=len(text))
        return Parsed(text, None, failed=True)
    users, channels = _names(tokens)
    return Parsed(text, tokens, mentions.of_names(users), tuple(dict.fromkeys(channels)))


def html(parsed: Parsed, refs: Refs = NO_REFS) -> str:
    """The message's HTML: block elements (a plain text is one <p>; an empty one, none)."""
    if parsed.tokens is None:
        return _as_text(parsed.text) if parsed.failed else f"<p>{parsed.text}</p>"
    try:
        return sanitise(_MD.renderer.render(parsed.tokens, _MD.options, {"refs": refs})).strip()
    except Exception:
        logger.exception("message rendering failed", length=len(parsed.text))
        return _as_text(parsed.text)


def _as_text(text: str) -> str:
    lines = escape(text.strip(), quote=False).replace("\n", "<br>\n")
    return f"<p>{lines}</p>" if lines else ""


def to_html(text: str, refs: Refs = NO_REFS) -> str:
    """The message's HTML, parsed and rendered in one go."""
    return html(parse(text), refs)


def markdown_html(text: str, refs: Refs = NO_REFS) -> str:
    """What `to_html` makes, always through the parser and the sanitiser."""
    return sanitise(_MD.render(text, {"refs": refs})).strip()


def sanitise(markup: str) -> str:
    """Any HTML cut down to the allow-list (the parser's output always goes through it)."""
    return _CLEANER.clean(markup)
