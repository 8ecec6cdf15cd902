// A button that opens a small menu of actions (ARIA menu button): arrows move between the
// items, Escape or Tab closes it and gives focus back to the button, a click elsewhere
// closes it. `items`: [{label, onSelect, danger, checked}]; an item with `checked` (true or
// false) is one of a set of choices (menuitemradio). It opens upward when the scrolled
// list that holds it ends too soon below (the last messages of a list).
import { html, useEffect, useId, useLayoutEffect, useRef, useState } from "../lib/html.js";

const ITEMS = "[role=menuitem], [role=menuitemradio]";

export function MenuButton({ label, items, className = "" }) {
  const [open, setOpen] = useState(false);
  const [up, setUp] = useState(false);
  const button = useRef(null);
  const menu = useRef(null);
  const id = useId();

  useLayoutEffect(() => {
    const list = menu.current;
    const frame = list?.closest(".scroller, .thread-scroll, .panel-body");
    setUp(Boolean(frame) && list.getBoundingClientRect().bottom > frame.getBoundingClientRect().bottom);
  }, [open]);

  useEffect(() => {
    if (!open) return undefined;
    menu.current?.querySelector(ITEMS)?.focus();
    const away = (event) => {
      if (!menu.current?.contains(event.target) && !button.current?.contains(event.target)) {
        setOpen(false);
      }
    };
    document.addEventListener("pointerdown", away);
    return () => document.removeEventListener("pointerdown", away);
  }, [open]);

  function close(refocus = true) {
    setOpen(false);
    if (refocus) button.current?.focus();
  }

  function onKeyDown(event) {
    const entries = [...menu.current.querySelectorAll(ITEMS)];
    const at = entries.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      entries[(at + step + entries.length) % entries.length]?.focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      entries[event.key === "Home" ? 0 : entries.length - 1]?.focus();
    } else if (event.key === "Tab") {
      close(false);
    }
  }

  function onButtonKeyDown(event) {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      setOpen(true);
    }
  }

  return html`
    <div class=${`menu ${className}`}>
      <button
        type="button"
        class="icon-button"
        ref=${button}
        aria-label=${label}
        title=${label}
        aria-haspopup="menu"
        aria-expanded=${open ? "true" : "false"}
        aria-controls=${open ? id : undefined}
        onClick=${() => setOpen(!open)}
        onKeyDown=${onButtonKeyDown}
      >
        <span aria-hidden="true">⋯</span>
      </button>
      ${open &&
      html`<ul class=${up ? "menu-list up" : "menu-list"} role="menu" id=${id} ref=${menu} aria-label=${label}
        onKeyDown=${onKeyDown}>
        ${items.map(
          (item) => html`<li role="none" key=${item.label}>
            <button
              type="button"
              role=${item.checked === undefined ? "menuitem" : "menuitemradio"}
              aria-checked=${item.checked === undefined ? undefined : String(item.checked)}
              tabindex="-1"
              class=${item.danger ? "danger" : ""}
              onClick=${() => {
                close(); // focus back on the button first: a dialog the item opens returns it there
                item.onSelect();
              }}
            >
              ${item.label}
            </button>
          </li>`,
        )}
      </ul>`}
    </div>
  `;
}
