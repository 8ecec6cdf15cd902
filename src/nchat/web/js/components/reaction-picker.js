// "Add reaction": the most used emoji first, and a search over every emoji's names. An ARIA
// combobox like the channel switcher: focus stays in the search field, the arrows move over
// the grid (Up and Down by a row), Enter reacts with the chosen one, Escape closes.
import { FREQUENT, loadEmoji, matchEmoji, shortName } from "../emoji.js";
import { html, useEffect, useMemo, useState } from "../lib/html.js";
import { notice } from "../store.js";
import { addReaction } from "../threads.js";
import { closeDialog, Dialog } from "./dialog.js";

// As many as css/threads.css puts in a row of .emoji-grid.
const COLUMNS = 8;
const SHOWN = 64;

function spoken(item) {
  return item.names[0].replace(/_/g, " ");
}

export function ReactionPicker({ messageId }) {
  const [all, setAll] = useState(null);
  const [failed, setFailed] = useState(null);
  const [q, setQ] = useState("");
  const [active, setActive] = useState(0);

  useEffect(() => {
    loadEmoji().then(setAll, (error) => setFailed(error.message));
  }, []);

  const frequent = useMemo(() => {
    const byChar = new Map((all ?? []).map((item) => [item.char, item]));
    return FREQUENT.map((char) => byChar.get(char) ?? { char, names: [char] });
  }, [all]);

  const query = q.trim().toLowerCase().replace(/^:+|:+$/g, "");
  const options = query ? (all ? matchEmoji(all, query, SHOWN) : []) : frequent;
  const at = Math.min(active, Math.max(0, options.length - 1));
  const optionId = (i) => `emoji-option-${i}`;

  useEffect(() => {
    document.getElementById(optionId(at))?.scrollIntoView({ block: "nearest" });
  }, [at, query]);

  function pick(item) {
    closeDialog();
    addReaction(messageId, item.char).catch((error) => {
      notice.value = { message: `The reaction was not added: ${error.message}` };
    });
  }

  function onKeyDown(event) {
    const steps = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (event.key in steps && options.length) {
      event.preventDefault();
      const next = at + steps[event.key];
      setActive(Math.min(options.length - 1, Math.max(0, next)));
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      setActive(event.key === "Home" ? 0 : options.length - 1);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (options[at]) pick(options[at]);
    }
  }

  return html`
    <${Dialog} title="Add reaction" className="reaction-picker">
      <label class="visually-hidden" for="emoji-q">Search emoji</label>
      <input
        id="emoji-q"
        type="text"
        role="combobox"
        autofocus
        autocomplete="off"
        placeholder="Search emoji"
        aria-expanded="true"
        aria-controls="emoji-options"
        aria-autocomplete="list"
        aria-activedescendant=${options[at] ? optionId(at) : undefined}
        value=${q}
        onInput=${(e) => {
          setQ(e.currentTarget.value);
          setActive(0);
        }}
        onKeyDown=${onKeyDown}
      />
      <p class="emoji-heading muted" aria-hidden="true">${query ? "Results" : "Frequently used"}</p>
      <ul
        id="emoji-options"
        role="listbox"
        class="emoji-grid"
        aria-label=${query ? `Emoji matching “${q.trim()}”` : "Frequently used emoji"}
      >
        ${options.map(
          (item, i) => html`<li
            key=${item.char}
            id=${optionId(i)}
            role="option"
            aria-selected=${i === at ? "true" : "false"}
            aria-label=${spoken(item)}
            title=${item.names.length > 1 || item.names[0] !== item.char ? `:${shortName(item)}:` : undefined}
            class=${i === at ? "active" : ""}
            onClick=${() => pick(item)}
          >
            <span aria-hidden="true">${item.char}</span>
          </li>`,
        )}
      </ul>
      ${query && all && options.length === 0 && html`<p class="muted">No emoji is called “${q.trim()}”.</p>`}
      ${query && !all && !failed && html`<p class="muted" role="status">Loading emoji…</p>`}
      ${failed && html`<p class="field-error" role="alert">The emoji could not be loaded: ${failed}</p>`}
      <p class="hint">Arrows to choose, Enter to react, Escape to close.</p>
    </${Dialog}>
  `;
}
