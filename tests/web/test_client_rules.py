"""Rules of the web client's code that keep it auditable, checked on the files: one module
calls fetch and one sends uploads (XMLHttpRequest, for their progress), one names the
vendored libraries, one puts server HTML into the DOM (the message's sanitised `html`), and
nothing sets inline styles or handlers the page's policy would refuse."""

from __future__ import annotations

import re

from nchat.web.assets import WEB_DIR

JS = WEB_DIR / "js"


def sources() -> dict[str, str]:
    return {p.relative_to(JS).as_posix(): p.read_text() for p in sorted(JS.rglob("*.js"))}


def users_of(pattern: str) -> set[str]:
    return {name for name, text in sources().items() if re.search(pattern, text)}


def test_one_module_calls_fetch() -> None:
    assert users_of(r"\bfetch\(") == {"api.js"}


def test_one_module_sends_uploads() -> None:
    # fetch reports no upload progress; XMLHttpRequest does, and is kept to uploads alone.
    assert users_of(r"\bXMLHttpRequest\b") == {"uploads.js"}


def test_one_module_imports_the_libraries() -> None:
    assert users_of(r"""from\s+["'][./]*vendor/""") == {"lib/html.js"}


def test_server_html_enters_the_dom_in_one_component() -> None:
    assert users_of(r"dangerouslySetInnerHTML") == {"components/message-body.js"}
    assert users_of(r"\.innerHTML\b|outerHTML|insertAdjacentHTML|document\.write") == set()
    # And only a message's `html` field goes there.
    body = sources()["components/message-body.js"]
    assert re.findall(r"__html:\s*([\w.]+)", body) == ["message.html"]


def test_no_inline_styles_or_handlers() -> None:
    assert users_of(r"""\sstyle=|\.style\.|\son[a-z]+=["']|eval\(|new Function""") == set()
