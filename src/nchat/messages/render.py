"""A message's text as HTML, made once on the server and stored beside the text, so every
client shows the same thing and none has to parse Markdown (decision 0035).

Pure: the text and what its names stand for (`Refs`, looked up by the caller in the writing
transaction) in, sanitised HTML out. Markdown as people write it in chat: CommonMark with a
line break for every newline, fenced code with its language, tables, strikethrough and links
found in plain text; raw HTML is shown as text. Then `@username` of a user, `@channel`,
`@here`, `@all`, `#channel` of a channel the author can see, and `:shortcode:` emoji, never
inside code or (for names) inside a link. Whatever the parser made then goes through an
allow-list sanitiser (nh3): the few tags and attributes below, links only to http, https and
mailto, each opening in a new tab without a referrer."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import emoji
import nh3
import structlog
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from nchat.messages.mentions import CHANNEL_RE, MENTION_RE, SPECIAL

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
    md.core.ruler.before("text_join", "nchat_refs", _refs_rule)
    return md


_CANDIDATE = re.compile(f"{MENTION_RE.pattern}|{CHANNEL_RE.pattern}", re.IGNORECASE)
# A shortcode stands alone: "10:30:45" and "a:b:c" hold no emoji, ":tada::tada:" holds two.
# Which names exist is the emoji library's business (its aliases, as GitHub and Slack
# spell them, and the Unicode names).
_SHORTCODE = re.compile(r"(?<!\w):[^\s:]{1,64}:(?!\w)")
_ALIGN = re.compile(r"text-align:(left|center|right)")


def _refs_rule(state: StateCore) -> None:
    refs: Refs = state.env.get("refs", NO_REFS)
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
                children.extend(_split(token.content, refs))
            elif token.type == "text" and ":" in token.content:
                token.content = _emojize(token.content)
                children.append(token)
            else:
                children.append(token)
        block.children = children


def _split(text: str, refs: Refs) -> list[Token]:
    """A text token as text, mention and channel tokens."""
    out: list[Token] = []
    start = 0
    for found in _CANDIDATE.finditer(text):
        user, channel = found.group(1), found.group(2)
        if user is not None:
            name = user.lower().rstrip(".")
            end = found.start() + 1 + len(name)
            if name in SPECIAL:
                attrs = {"class": "mention mention-group", "data-mention": name}
            elif name in refs.users:
                attrs = {"class": "mention", "data-user-id": str(refs.users[name])}
            else:
                continue
        else:
            name = channel.lower()
            if name not in refs.channels:
                continue
            end = found.end()
            attrs = {"class": "channel", "data-channel-id": str(refs.channels[name])}
        out.extend(_text(text[start : found.start()]))
        out.append(Token("span_open", "span", 1, attrs=dict(attrs)))
        out.append(Token("text", "", 0, content=text[found.start() : end]))
        out.append(Token("span_close", "span", -1))
        start = end
    out.extend(_text(text[start:]))
    return out


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


def to_html(text: str, refs: Refs = NO_REFS) -> str:
    """The message's HTML: block elements (a plain text is one <p>; an empty one, none)."""
    if _PLAIN.fullmatch(text):
        return f"<p>{text}</p>"
    try:
        return markdown_html(text, refs)
    except Exception:  # a fault of the parser's must not refuse a message: it is shown as text
        logger.exception("message rendering failed", length=len(text))
        lines = html.escape(text.strip(), quote=False).replace("\n", "<br>\n")
        return f"<p>{lines}</p>" if lines else ""


def markdown_html(text: str, refs: Refs = NO_REFS) -> str:
    """What `to_html` makes, always through the parser and the sanitiser."""
    return sanitise(_MD.render(text, {"refs": refs})).strip()


def sanitise(markup: str) -> str:
    """Any HTML cut down to the allow-list (the parser's output always goes through it)."""
    return _CLEANER.clean(markup)
