"""The renderer on its own (messages/render.py): Markdown as chat writes it, names, emoji, what
the sanitiser lets through, the plain-text shortcut against the parser, and the bench seed's
rows against the renderer."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from bench.seed import Size, seed
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.messages import mentions
from nchat.messages.render import Refs, markdown_html, parse, to_html
from tests.messaging.xss import assert_inert

ADA = uuid.UUID("01a21496-2bae-71f5-95d2-b19f8c740301")
GENERAL = uuid.UUID("01a21496-2bae-71f5-95d2-b19f8c740302")
REFS = Refs(users={"ada": ADA}, channels={"general": GENERAL})
LINK = 'target="_blank" rel="noopener noreferrer nofollow"'


def html(text: str) -> str:
    out = to_html(text, REFS)
    assert_inert(out)
    return out


def test_plain_text_is_one_paragraph() -> None:
    assert html("hello there") == "<p>hello there</p>"
    assert html("  hello  ") == "<p>hello</p>"
    assert html("") == "" and html("   ") == ""


def test_every_newline_is_a_line_break_and_a_blank_line_a_paragraph() -> None:
    assert html("one\ntwo") == "<p>one<br>\ntwo</p>"
    assert html("one\n\ntwo") == "<p>one</p>\n<p>two</p>"


def test_raw_html_is_shown_as_text() -> None:
    assert html("<b>bold</b> & <i>") == "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;</p>"
    assert html("<div>\n<script>alert(1)</script>\n</div>") == (
        "<p>&lt;div&gt;<br>\n&lt;script&gt;alert(1)&lt;/script&gt;<br>\n&lt;/div&gt;</p>"
    )


def test_emphasis_strikethrough_and_code() -> None:
    assert html("**bold** *it* ~~gone~~ `x < y`") == (
        "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>x &lt; y</code></p>"
    )


def test_fenced_code_keeps_its_language_as_a_class() -> None:
    assert html("```python\nif a < b:\n    pass\n```") == (
        '<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>'
    )
    # An info string that is not a plain language name gives no class at all.
    assert html('```js" onclick="x\ncode\n```') == "<pre><code>code\n</code></pre>"


def test_tables_align_by_attribute_not_style() -> None:
    out = html("| a | b | c |\n|:-|:-:|-:|\n| 1 | 2 | 3 |")
    assert "<table>" in out and "style" not in out
    assert '<th align="left">a</th>' in out and '<td align="center">2</td>' in out
    assert '<td align="right">3</td>' in out


def test_links_autolinks_and_bare_urls() -> None:
    assert html("[docs](https://example.com/a?b=1&c=2)") == (
        f'<p><a href="https://example.com/a?b=1&amp;c=2" {LINK}>docs</a></p>'
    )
    assert html("<https://example.com>") == (
        f'<p><a href="https://example.com" {LINK}>https://example.com</a></p>'
    )
    assert html("see www.example.com") == (
        f'<p>see <a href="http://www.example.com" {LINK}>www.example.com</a></p>'
    )
    assert html("write to ada@example.com") == (
        f'<p>write to <a href="mailto:ada@example.com" {LINK}>ada@example.com</a></p>'
    )


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox(1))",
        "[x](/api/users)",
        "[x](ftp://example.com/file)",
    ],
)
def test_links_to_other_schemes_stay_text(text: str) -> None:
    assert html(text) == f"<p>{text}</p>"


def test_no_images_an_image_is_a_link_to_it() -> None:
    assert html("![img](https://example.com/a.png)") == (
        f'<p>!<a href="https://example.com/a.png" {LINK}>img</a></p>'
    )
    assert html("<javascript:alert(1)>") == "<p>&lt;javascript:alert(1)&gt;</p>"


def test_headings_stay_but_underlines_do_not_make_them() -> None:
    assert html("# Release notes") == "<h1>Release notes</h1>"
    assert html("done\n---") == "<p>done</p>\n<hr>"


def test_mentions_of_users_who_exist_and_of_the_channel() -> None:
    assert html("hi @ada, @Ada. and @nobody") == (
        f'<p>hi <span class="mention" data-user-id="{ADA}">@ada</span>, '
        f'<span class="mention" data-user-id="{ADA}">@Ada</span>. and @nobody</p>'
    )
    assert html("@here and @channel") == (
        '<p><span class="mention mention-group" data-mention="here">@here</span> and '
        '<span class="mention mention-group" data-mention="channel">@channel</span></p>'
    )
    assert html("mail ada@example.com") == (
        f'<p>mail <a href="mailto:ada@example.com" {LINK}>ada@example.com</a></p>'
    )


def test_names_are_never_rendered_in_code_links_or_escapes() -> None:
    assert html("`@ada` and `#general`") == ("<p><code>@ada</code> and <code>#general</code></p>")
    assert html("```\n@ada #general\n```") == "<pre><code>@ada #general\n</code></pre>"
    assert html("    @ada indented") == "<pre><code>@ada indented\n</code></pre>"
    assert html("[@ada](https://example.com)") == (
        f'<p><a href="https://example.com" {LINK}>@ada</a></p>'
    )
    assert html("\\@ada") == "<p>@ada</p>"


def test_channels_the_author_can_see_are_spans_with_their_id() -> None:
    assert html("see #general, not #secret or C# or issue#12") == (
        f'<p>see <span class="channel" data-channel-id="{GENERAL}">#general</span>, '
        "not #secret or C# or issue#12</p>"
    )
    assert html("https://example.com/#general") == (
        f'<p><a href="https://example.com/#general" {LINK}>https://example.com/#general</a></p>'
    )


def test_shortcodes_become_emoji() -> None:
    assert html(":tada: :+1::heart: :not_an_emoji:") == "<p>🎉 👍❤️ :not_an_emoji:</p>"
    assert html("at 10:30:45 on a:b:c") == "<p>at 10:30:45 on a:b:c</p>"
    assert html("`:tada:`") == "<p><code>:tada:</code></p>"


def test_the_names_parsed_for_the_lookup() -> None:
    assert mentions.channel_names("#General #dev-ops, C# &#64; #general") == (
        "general",
        "dev-ops",
    )
    assert mentions.parse("@Ada @ada. @here").usernames == ("ada",)


@pytest.mark.parametrize(
    "text",
    [
        "`@ada` and `@channel` and `#general`",
        "```\n@ada @here #general\n```",
        "~~~\n@all\n~~~",
        "    @ada @everyone indented",
        "[@ada and #general](https://example.com)",
        "\\@ada \\@here",
        "mail ada@example.com",
    ],
)
def test_names_in_code_links_or_escapes_mention_nobody(text: str) -> None:
    read = parse(text)
    assert read.mentions == mentions.NONE
    assert read.channel_names == ()


def test_the_names_a_parse_finds_outside_code() -> None:
    read = parse("@Ada, `@bob` and **@cat.** in #General, not `#dev`\n\n> @here")
    assert read.mentions == mentions.ParsedMentions(("ada", "cat"), channel=False, here=True)
    assert read.channel_names == ("general",)
    assert parse("```\n@bob\n```\n@channel").mentions.channel


# Texts the shortcut may take: words, spaces, emoji and the punctuation it allows, plus
# everything that must send it to the parser.
_PIECES = st.sampled_from(
    [
        *("word", "Word", "élan", "中文", "ß", "١٢", "42", "1", "🎉", "❤\ufe0f", "\u00a0"),
        *(" ", "  ", ",", ";", "?", "!", "'", '"', "(", ")", "-", ".", ":", "。", "\t"),
        *("\n", "*", "_", "~", "`", "#", "@", "&", "<", ">", "[", "]", "|", "\\", "/", "+"),
        *("=", "example.com", "a.b", "1.", "2)", "http://x.y", ":tada:", "www"),
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=12).map("".join))
def test_the_plain_text_shortcut_agrees_with_the_parser(text: str) -> None:
    assert to_html(text) == markdown_html(text)


async def test_the_bench_seed_writes_the_html_the_renderer_would(
    engine: AsyncEngine, database_url: str, clean_db: None
) -> None:
    await seed(
        database_url,
        Size(users=3, channels=2, messages=60, main_user_channels=1, unread_per_channel=1),
        "bench password",
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT text, html FROM nchat_messages"))).all()
    assert len(rows) == 60
    for text, stored in rows:
        assert stored == to_html(text) == markdown_html(text), text
