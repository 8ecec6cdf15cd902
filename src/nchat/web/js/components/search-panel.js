// Search results beside the conversation (panel kind "search"): the query (editable), the
// sort, "Only in #channel" for the channel the search started in, the estimated total, a
// page at a time with "Load more", and a short help of the query language. A result opens
// its channel at the message. The highlighted snippet is drawn from pieces of text
// (highlight.js), never as HTML, and without the Markdown's syntax. "Files" shows the files
// found by the same words instead (search-files.js). The results follow the socket: a
// deleted message leaves them, and new messages that match are counted under a button that
// searches again (asked a few seconds after a new message that might match, not for each).
// Loaded on first use (side-panel.js).
import { listen } from "../events.js";
import { channelLabel, fullTime } from "../format.js";
import { html, useEffect, useId, useRef, useState } from "../lib/html.js";
import { parseHighlight, readable } from "../highlight.js";
import {
  fullQuery,
  MAX_QUERY,
  openResult,
  openSearch,
  PAGE,
  searchError,
  searchMessages,
  SHORTCUT,
  tooLong,
} from "../search.js";
import { channels, panel, userId } from "../store.js";
import { FileResults } from "./search-files.js";
import { PanelFrame } from "./side-panel.js";

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const COUNT = new Intl.NumberFormat();

const SORTS = [
  ["relevance", "Most relevant"],
  ["recent", "Newest"],
];

const VIEWS = [
  ["messages", "Messages"],
  ["files", "Files"],
];

const OPERATORS = [
  ["deploy release", "messages with both words (deploying finds deployed)"],
  ['"new release"', "the exact phrase"],
  ["-failed", "without that word"],
  ["from:@ada", "sent by ada"],
  ["in:#general, in:@bob", "in that channel; in your conversation with bob"],
  ["has:file, has:image, has:link", "with an attachment, an image, a link"],
  ["is:pinned, is:thread, is:saved", "pinned; in a thread; saved by you"],
  ["mentions:@me", "mentioning you"],
  ["before:2026-01-31, after:, on:", "sent before, after or on that day (UTC)"],
];

const IDLE = { hits: [], next: null, total: 0, capped: false, loading: false, error: null };
// New messages that might match are checked this long after the first of them.
const CHECK_MS = 3000;

const fold = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

// Whether a new message might be a result, to spare the server a search for each message:
// it holds the start of one of the query's words (the server matches word stems), or the
// query has only filters.
function mayMatch(query, text) {
  const words = query
    .split(/\s+/)
    .filter((w) => !w.includes(":") && !w.startsWith("-"))
    .map((w) => fold(w.replace(/["*]/g, "")).slice(0, 3))
    .filter(Boolean);
  const folded = fold(text ?? "");
  return !words.length || words.some((w) => folded.includes(w));
}

function change(fields) {
  panel.value = { ...panel.value, ...fields };
}

export function Highlight({ text }) {
  const pieces = readable(parseHighlight(text));
  return pieces.map((piece) => (piece.mark ? html`<mark>${piece.text}</mark>` : piece.text));
}

function Help({ id }) {
  return html`<section id=${id} class="search-help" aria-label="Search help">
    <p>Search finds words in every conversation you can read. Combine them with:</p>
    <dl>
      ${OPERATORS.map(([write, finds]) => html`<div key=${write}><dt><code>${write}</code></dt><dd>${finds}</dd></div>`)}
    </dl>
    <p class="muted">${SHORTCUT} opens search from anywhere.</p>
  </section>`;
}

function where(hit) {
  const known = channels.value?.get(hit.channel.id);
  if (known) return channelLabel(known, userId.value);
  if (hit.channel.name) return `#${hit.channel.name}`;
  return "a direct message";
}

function Hit({ hit }) {
  const at = hit.created_at;
  return html`<li class="search-hit-item">
    <button type="button" class="search-hit" data-id=${hit.id} onClick=${() => openResult(hit)}>
      <span class="hit-meta">
        <span class="author">${hit.user.name}</span>
        <span class="hit-where">in ${where(hit)}${hit.thread_id ? " (thread)" : ""}</span>
        <time datetime=${at} title=${fullTime(at)}>${WHEN.format(new Date(at))}</time>
      </span>
      <span class="hit-text"><${Highlight} text=${hit.highlight} /></span>
    </button>
  </li>`;
}

function summary(found) {
  const n = found.hits.length;
  if (!found.next) return n === 1 ? "1 result" : `${COUNT.format(n)} results`;
  if (found.capped) return `More than ${COUNT.format(found.total)} results`;
  return `About ${COUNT.format(Math.max(found.total, n))} results`;
}

export function SearchPanel({
  q = "",
  sort = "relevance",
  view = "messages",
  here = false,
  scope = null,
  focus = false,
  asked = 0,
}) {
  const [text, setText] = useState(q);
  const [found, setFound] = useState(IDLE);
  const [helpOpen, setHelpOpen] = useState(false);
  const [moreFrom, setMoreFrom] = useState(null);
  const [fresh, setFresh] = useState(0); // new matches since the search
  const [round, setRound] = useState(0);
  const shown = useRef([]);
  shown.current = found.hits;
  const input = useRef(null);
  const list = useRef(null);
  const helpId = useId();
  const query = fullQuery(q, { here, scope });
  const files = view === "files";

  useEffect(() => {
    if (focus) input.current?.focus();
  }, []);

  // A new search from outside (the header's field) puts its words here; not on the first
  // render, which has them already and may have been typed over since.
  const askedShown = useRef(asked);
  useEffect(() => {
    if (askedShown.current === asked) return;
    askedShown.current = asked;
    setText(q);
  }, [asked]);

  useEffect(() => {
    if (!q.trim() || files) {
      setFound(IDLE);
      return undefined;
    }
    if (tooLong(query)) {
      setFound({ ...IDLE, error: `The search is too long: at most ${MAX_QUERY} characters.` });
      return undefined;
    }
    let current = true;
    let timer = null;
    const since = new Set(); // messages sent since, that might match
    setFresh(0);
    setFound({ ...IDLE, loading: true });
    searchMessages({ q: query, sort })
      .then((page) => current && setFound(pageOf(page, [])))
      .catch((error) => current && setFound({ ...IDLE, error: searchError(error) }));
    async function check() {
      timer = null;
      try {
        const page = await searchMessages({ q: query, sort: "recent" });
        const known = new Set(shown.current.map((h) => h.id));
        if (current) setFresh(page.messages.filter((h) => since.has(h.id) && !known.has(h.id)).length);
      } catch {
        // The next new message asks again.
      }
    }
    const stop = listen(({ type, data }) => {
      if (type === "message.deleted") {
        setFound((f) => ({ ...f, hits: f.hits.filter((h) => h.id !== data.message_id) }));
      } else if (type === "message.created" && mayMatch(query, data.text)) {
        since.add(data.id);
        timer ??= setTimeout(check, CHECK_MS);
      }
    });
    return () => {
      current = false;
      stop();
      clearTimeout(timer);
    };
  }, [query, sort, asked, files, round]);

  // After "Load more", focus goes to the first new result (the button may be gone).
  useEffect(() => {
    if (moreFrom === null) return;
    list.current?.querySelectorAll(".search-hit")[moreFrom]?.focus();
    setMoreFrom(null);
  }, [moreFrom]);

  function pageOf(page, before) {
    const seen = new Set(before.map((h) => h.id));
    return {
      hits: [...before, ...page.messages.filter((h) => !seen.has(h.id))],
      next: page.next_cursor,
      total: page.estimated_total,
      capped: page.total_capped,
      loading: false,
      error: null,
    };
  }

  async function loadMore() {
    const before = found;
    setFound({ ...before, loading: true, error: null });
    try {
      const page = await searchMessages({ q: query, sort, cursor: before.next });
      setFound((f) => pageOf(page, f.hits));
      setMoreFrom(before.hits.length);
    } catch (error) {
      setFound({ ...before, loading: false, error: searchError(error) });
    }
  }

  function submit(event) {
    event.preventDefault();
    openSearch({ q: text.trim() });
  }

  const helpShown = !files && (helpOpen || !q.trim());
  const first = found.loading && !found.hits.length;
  const actions = !files && html`<button type="button" class="icon-button search-help-toggle" aria-label="Search help"
    aria-expanded=${helpShown ? "true" : "false"} aria-controls=${helpId} disabled=${!q.trim()}
    onClick=${() => setHelpOpen(!helpOpen)}><span aria-hidden="true">?</span></button>`;

  return html`
    <${PanelFrame} title="Search" className="search-panel" actions=${actions}>
      <div class="search-controls">
        <form class="search-form" onSubmit=${submit}>
          <label class="visually-hidden" for="search-panel-q">${files ? "Search files" : "Search messages"}</label>
          <input id="search-panel-q" ref=${input} type="search" autocomplete="off" enterkeyhint="search"
            placeholder=${files ? "Part of a file’s name or type…" : "Words, from:@name, in:#channel…"} value=${text}
            aria-invalid=${found.error && tooLong(query) ? "true" : undefined}
            onInput=${(e) => setText(e.currentTarget.value)} />
          <button type="submit" class="small">Search</button>
        </form>
        <div class="search-options">
          <div class="search-sort search-view" role="group" aria-label="Search in">
            ${VIEWS.map(
              ([value, label]) => html`<button type="button" key=${value} class="secondary small"
                aria-pressed=${view === value ? "true" : "false"} onClick=${() => change({ view: value })}>${label}</button>`,
            )}
          </div>
          ${!files &&
          html`<div class="search-sort" role="group" aria-label="Sort results">
            ${SORTS.map(
              ([value, label]) => html`<button type="button" key=${value} class="secondary small"
                aria-pressed=${sort === value ? "true" : "false"} onClick=${() => change({ sort: value })}>${label}</button>`,
            )}
          </div>`}
          ${scope && !files &&
          html`<label class="search-here">
            <input type="checkbox" checked=${here} onChange=${(e) => change({ here: e.currentTarget.checked })} />
            Only in #${scope.name}
          </label>`}
        </div>
      </div>
      ${helpShown && html`<${Help} id=${helpId} />`}
      ${files && html`<${FileResults} q=${q} asked=${asked} />`}
      ${!files &&
      html`<div class="search-results-area" aria-busy=${found.loading ? "true" : "false"}>
        <p class="search-summary" role="status">
          ${!q.trim() || found.error ? "" : first ? "Searching…" : found.hits.length ? summary(found) : ""}
        </p>
        ${found.error && html`<p class="form-error search-error" role="alert">${found.error}</p>`}
        <div class="search-fresh" aria-live="polite">
          ${fresh > 0 &&
          html`<button type="button" class="secondary small" onClick=${() => setRound(round + 1)}>
            Show ${fresh >= PAGE ? `${PAGE}+` : fresh} new ${fresh === 1 ? "result" : "results"}
          </button>`}
        </div>
        ${q.trim() && !found.loading && !found.error && !found.hits.length &&
        html`<div class="search-empty">
          <p><strong>No messages match “${q.trim()}”${here && scope ? ` in #${scope.name}` : ""}.</strong></p>
          <p class="muted">Check the spelling, try fewer words${here ? ", or search everywhere" : ""}.
            ${!helpShown && html` <button type="button" class="link-button" onClick=${() => setHelpOpen(true)}>Search help</button> lists the filters.`}</p>
        </div>`}
        ${found.hits.length > 0 &&
        html`<ol class="search-results" ref=${list} aria-label="Results">
          ${found.hits.map((hit) => html`<${Hit} key=${hit.id} hit=${hit} />`)}
        </ol>`}
        ${found.next &&
        html`<div class="search-more">
          <button type="button" class="secondary small" disabled=${found.loading} onClick=${loadMore}>
            ${found.loading ? "Loading…" : "Load more results"}
          </button>
        </div>`}
      </div>`}
    </${PanelFrame}>
  `;
}
