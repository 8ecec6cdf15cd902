// The search field in the channel header: Enter opens the results beside the conversation.
// It shows the query the panel searched last. On narrow screens it is a button that opens
// the panel, which has a field of its own.
import { html, useEffect, useState } from "../lib/html.js";
import { openSearch, searchEnabled, SHORTCUT, SHORTCUT_ARIA } from "../search.js";
import { panel } from "../store.js";

export function SearchIcon() {
  return html`<svg class="search-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
    <circle cx="8.5" cy="8.5" r="5.5" fill="none" stroke="currentColor" stroke-width="2" />
    <path d="m12.75 12.75 4.5 4.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
  </svg>`;
}

export function SearchBox() {
  const searched = panel.value?.kind === "search" ? panel.value.q : null;
  const [q, setQ] = useState(searched ?? "");

  useEffect(() => {
    if (searched !== null) setQ(searched);
  }, [searched]);

  if (!searchEnabled()) return null; // turned off on the server (after the hooks: same order)

  function submit(event) {
    event.preventDefault();
    if (q.trim()) openSearch({ q: q.trim() });
  }

  function onKeyDown(event) {
    if (event.key === "Escape" && q) {
      // Clears the field first; a second Escape closes what is open.
      event.preventDefault();
      setQ("");
    }
  }

  return html`
    <form class="search-box" role="search" aria-label="Messages" onSubmit=${submit}>
      <label class="visually-hidden" for="search-box-q">Search messages</label>
      <${SearchIcon} />
      <input id="search-box-q" type="search" autocomplete="off" enterkeyhint="search"
        placeholder=${`Search (${SHORTCUT})`} aria-keyshortcuts=${SHORTCUT_ARIA}
        title=${`Search messages (${SHORTCUT})`} value=${q}
        onInput=${(e) => setQ(e.currentTarget.value)} onKeyDown=${onKeyDown} />
    </form>
    <button type="button" class="icon-button search-toggle" aria-label="Search messages"
      aria-keyshortcuts=${SHORTCUT_ARIA} title=${`Search messages (${SHORTCUT})`}
      onClick=${() => openSearch({ focus: true })}>
      <${SearchIcon} />
    </button>
  `;
}
