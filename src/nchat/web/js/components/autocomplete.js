// Completion in the composer: `@` people, `#` channels, `:` emoji (js/completion.js says
// what is offered and inserted). Focus stays in the text; the arrows move over the list
// (its active option is the text's aria-activedescendant), Enter or Tab inserts, Escape
// closes the list and keeps the text. The text stays a textbox, not a combobox: it is a
// multi-line field, and what it takes is free text, with a list now and then.
import { insert, optionsFor, tokenAt } from "../completion.js";
import { html, useEffect, useId, useLayoutEffect, useRef, useState } from "../lib/html.js";
import { Avatar } from "./avatar.js";

// The people and channels are searched on the server: a short pause while one types.
const PAUSE_MS = 120;
const LABELS = { person: "People", channel: "Channels", emoji: "Emoji" };
const CARET_KEYS = new Set(["ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"]);

function sameToken(a, b) {
  return a === b || (a && b && a.kind === b.kind && a.query === b.query && a.start === b.start);
}

// `change(text)` sets the composer's text; `area` is its textarea's ref.
export function useCompletion({ channel, text, change, area }) {
  const [token, setToken] = useState(null);
  const [options, setOptions] = useState([]);
  const [active, setActive] = useState(0);
  // The start of a token closed with Escape: its list stays closed while it is typed on.
  const dismissed = useRef(null);
  const caret = useRef(null);
  const listId = `completion-${useId()}`;

  function look() {
    const el = area.current;
    const found = el && el.selectionStart === el.selectionEnd ? tokenAt(el.value, el.selectionStart) : null;
    if (!found || found.start !== dismissed.current) dismissed.current = null;
    const shown = found && found.start !== dismissed.current ? found : null;
    setToken((previous) => (sameToken(previous, shown) ? previous : shown));
  }

  useEffect(look, [text]);

  useEffect(() => {
    const el = area.current;
    if (!el) return undefined;
    const onKeyUp = (event) => CARET_KEYS.has(event.key) && look();
    const onBlur = () => setToken(null);
    el.addEventListener("click", look);
    el.addEventListener("keyup", onKeyUp);
    el.addEventListener("blur", onBlur);
    el.addEventListener("focus", look);
    return () => {
      el.removeEventListener("click", look);
      el.removeEventListener("keyup", onKeyUp);
      el.removeEventListener("blur", onBlur);
      el.removeEventListener("focus", look);
    };
  }, []);

  useEffect(() => {
    setActive(0);
    if (!token) {
      setOptions([]);
      return undefined;
    }
    let current = true;
    const timer = setTimeout(
      () => {
        optionsFor(token, channel)
          .then((found) => current && setOptions(found))
          .catch(() => current && setOptions([]));
      },
      token.kind === "emoji" ? 0 : PAUSE_MS,
    );
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [token]);

  // The caret goes after what was inserted once the text shows it.
  useLayoutEffect(() => {
    if (caret.current === null || !area.current) return;
    area.current.setSelectionRange(caret.current, caret.current);
    caret.current = null;
  }, [text]);

  const open = Boolean(token) && options.length > 0;
  const at = Math.min(active, Math.max(0, options.length - 1));
  const optionId = (option) => `${listId}-${option.id}`;

  function pick(option) {
    const done = insert(area.current?.value ?? text, token, option);
    caret.current = done.caret;
    setToken(null);
    change(done.text);
    area.current?.focus();
  }

  // Handles the keys the list takes while it is open; true when the key was taken.
  function onKeyDown(event) {
    if (!open || event.isComposing) return false;
    const plain = !event.shiftKey && !event.ctrlKey && !event.metaKey && !event.altKey;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive((at + step + options.length) % options.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && plain) {
      pick(options[at]);
    } else if (event.key === "Escape") {
      dismissed.current = token.start;
      setToken(null);
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  const inputProps = {
    "aria-autocomplete": "list",
    "aria-controls": open ? listId : undefined,
    "aria-activedescendant": open ? optionId(options[at]) : undefined,
  };
  return { open, options, at, kind: token?.kind, listId, optionId, pick, onKeyDown, inputProps };
}

// The list of a composer's completions, above the text, and a status that says how many.
export function CompletionList({ completion }) {
  const { open, options, at, kind, listId, optionId, pick } = completion;
  const count = open ? `${options.length} ${LABELS[kind].toLowerCase()} to choose from; Enter inserts` : "";
  return html`
    <p class="visually-hidden" role="status">${count}</p>
    ${open &&
    html`<ul id=${listId} class="completion-list" role="listbox" aria-label=${LABELS[kind]}>
      ${options.map(
        (option, i) => html`<li
          key=${option.id}
          id=${optionId(option)}
          role="option"
          aria-selected=${i === at ? "true" : "false"}
          class=${`completion-option ${option.kind}${i === at ? " active" : ""}`}
          onPointerDown=${(event) => event.preventDefault()}
          onClick=${() => pick(option)}
        >
          ${option.person && html`<${Avatar} person=${option.person} size="tiny" />`}
          <span class="completion-label">${option.label}</span>
          ${option.detail && html`<span class="completion-detail">${option.detail}</span>`}
        </li>`,
      )}
    </ul>`}
  `;
}
