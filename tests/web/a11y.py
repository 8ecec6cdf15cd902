"""An accessibility check of what a tab shows, from Chromium's own accessibility tree (the
one screen readers are given), read through the DevTools protocol: no checker is loaded
into the page. `problems(tab)` names, for the screen as it is now:
- interactive nodes (buttons, links, fields, menu items...) without an accessible name, and
  focusable ones hidden from screen readers (inside aria-hidden);
- images without a name that are not marked decorative;
- landmarks of one role that cannot be told apart by name; not exactly one main; no h1;
- a page that scrolls sideways (as at 375 px, where it must not), or controls past the
  window's sides.
`focus_problems(tab, presses)` presses Tab and says which focused controls show no focus
ring. Each message names the role and the element, as in `button <button class="x">`."""

from __future__ import annotations

from typing import Any

from tests.web.browser import Tab

INTERACTIVE = frozenset(
    {
        "button",
        "link",
        "textbox",
        "combobox",
        "checkbox",
        "radio",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "option",
        "tab",
        "switch",
        "searchbox",
        "listbox",
        "slider",
        "spinbutton",
    }
)
IMAGES = frozenset({"img", "image"})
LANDMARKS = frozenset(
    {"banner", "navigation", "main", "complementary", "contentinfo", "region", "form", "search"}
)
# A form or a region is a landmark only when it has a name (WAI-ARIA); Chromium gives every
# <form> the role "form", named or not, so unnamed ones are not counted.
NAMED_LANDMARKS = frozenset({"form", "region"})

# The first part of an element's markup: its tag and attributes, enough to find it.
OPENING_TAG = """function () {
  const html = this.outerHTML ?? String(this.nodeName);
  const tag = html.slice(0, html.indexOf(">") + 1) || html;
  return tag.length > 160 ? `${tag.slice(0, 157)}...>` : tag;
}"""
SCROLL = """() => {
  const root = document.scrollingElement;
  return [root.scrollWidth, root.clientWidth];
}"""
# Controls a keyboard reaches inside what is hidden from screen readers (aria-hidden): focus
# lands on something that is not said.
HIDDEN_FOCUSABLE = """() => [...document.querySelectorAll(
  `[aria-hidden="true"] :is(a[href], button, input, select, textarea,
    [tabindex]:not([tabindex="-1"]))`,
)]
  .filter((el) => !el.disabled && el.checkVisibility({ visibilityProperty: true }))
  .map((el) => el.outerHTML.slice(0, el.outerHTML.indexOf(">") + 1).slice(0, 160))"""
COVERED = """() => Boolean(
  document.querySelector("dialog:modal") || document.querySelector("main")?.closest("[inert]")
)"""
# Controls shown but (partly) past the window's left or right edge: a container that clips
# (overflow: hidden) hides an overflow from the page's scroll width, not from the eye.
OUT_OF_VIEW = """() => {
  const width = document.documentElement.clientWidth;
  const controls = "a[href], button, input, select, textarea, [tabindex], [role=option]";
  return [...document.querySelectorAll(controls)]
    .filter((el) => el.checkVisibility({ visibilityProperty: true, opacityProperty: false }))
    .filter((el) => {
      const box = el.getBoundingClientRect();
      return box.width > 0 && (box.left < -1 || box.right > width + 1);
    })
    .map((el) => el.outerHTML.slice(0, el.outerHTML.indexOf(">") + 1).slice(0, 160));
}"""
FOCUS_RING = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== "none";
  const html = el.outerHTML;
  return { ring: outline || shadow, tag: html.slice(0, html.indexOf(">") + 1).slice(0, 160) };
}"""


def _value(field: dict[str, Any] | None) -> str:
    return str((field or {}).get("value") or "").strip()


def _property(node: dict[str, Any], name: str) -> Any:
    for prop in node.get("properties", []):
        if prop["name"] == name:
            return prop["value"].get("value")
    return None


class _Tree:
    def __init__(self, tab: Tab) -> None:
        self.session = tab.page.context.new_cdp_session(tab.page)
        self.nodes: list[dict[str, Any]] = self.session.send("Accessibility.getFullAXTree")["nodes"]

    def hint(self, node: dict[str, Any]) -> str:
        backend = node.get("backendDOMNodeId")
        if backend is None:
            return "(no element)"
        try:
            found = self.session.send("DOM.resolveNode", {"backendNodeId": backend})
            tag = self.session.send(
                "Runtime.callFunctionOn",
                {
                    "objectId": found["object"]["objectId"],
                    "functionDeclaration": OPENING_TAG,
                    "returnByValue": True,
                },
            )
            return str(tag["result"]["value"])
        except Exception as error:  # a node gone since the snapshot: say so, go on
            return f"(element {backend}: {error})"

    def close(self) -> None:
        self.session.detach()


def problems(tab: Tab) -> list[str]:
    """What is wrong with the screen `tab` shows now, one readable line each."""
    tree = _Tree(tab)
    try:
        found = _named(tree) + _structure(tab, tree)
    finally:
        tree.close()
    scroll_width, client_width = tab.page.evaluate(SCROLL)
    if scroll_width > client_width:
        found.append(
            f"the page scrolls sideways: {scroll_width} px of content in {client_width} px"
        )
    found += [f"focusable inside aria-hidden: {tag}" for tag in tab.page.evaluate(HIDDEN_FOCUSABLE)]
    found += [f"control past the window's side: {tag}" for tag in tab.page.evaluate(OUT_OF_VIEW)]
    return found


def _named(tree: _Tree) -> list[str]:
    found = []
    for node in tree.nodes:
        if node.get("ignored"):
            continue  # not exposed: hidden, decorative (alt="", aria-hidden) or inert
        role = _value(node.get("role"))
        if _value(node.get("name")):
            continue
        if role in INTERACTIVE:
            found.append(f"{role} without a name: {tree.hint(node)}")
        elif role in IMAGES:
            found.append(f"{role} without a name (alt) nor marked decorative: {tree.hint(node)}")
    return found


def _structure(tab: Tab, tree: _Tree) -> list[str]:
    found = []
    # While a modal <dialog> is open, or an overlay has made the main inert (the channel list
    # on a narrow screen), the page behind is out of reach on purpose, and Chromium leaves it
    # out of the tree: its main and h1 are checked on the screen without the overlay. A
    # modal dialog must be named and have a heading instead.
    covered = tab.page.evaluate(COVERED)
    shown = [n for n in tree.nodes if not n.get("ignored")]
    by_role: dict[str, list[dict[str, Any]]] = {}
    for node in shown:
        role = _value(node.get("role"))
        if role in LANDMARKS and (role not in NAMED_LANDMARKS or _value(node.get("name"))):
            by_role.setdefault(role, []).append(node)
    for role, nodes in sorted(by_role.items()):
        names = [_value(n.get("name")) for n in nodes]
        if len(nodes) > 1 and len(set(names)) < len(names):
            hints = ", ".join(
                f"{name or '(no name)'} {tree.hint(n)}"
                for name, n in zip(names, nodes, strict=True)
            )
            found.append(f"{len(nodes)} {role} landmarks not told apart by name: {hints}")
    levels = [_property(n, "level") for n in shown if _value(n.get("role")) == "heading"]
    if covered:
        dialogs = [n for n in shown if _value(n.get("role")) in ("dialog", "alertdialog")]
        found += [
            f"dialog without a name: {tree.hint(n)}" for n in dialogs if not _value(n.get("name"))
        ]
        if dialogs and not levels:
            found.append("a dialog without a heading")
        return found
    mains = len(by_role.get("main", []))
    if mains != 1:
        found.append(f"{mains} main landmarks, not exactly one")
    if 1 not in levels:
        found.append(f"no h1 among the headings (levels {levels})")
    return found


def focus_problems(tab: Tab, presses: int, *, key: str = "Tab") -> list[str]:
    """Press `key` (Tab, Shift+Tab) `presses` times from where focus is; each element
    reached must show a focus ring."""
    found = []
    for _ in range(presses):
        tab.page.keyboard.press(key)
        focused = tab.page.evaluate(FOCUS_RING)
        if focused is not None and not focused["ring"]:
            found.append(f"focus not visible on {focused['tag']}")
    return found
