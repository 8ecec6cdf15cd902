// Searching messages and files: the requests and what its errors mean to a reader, opening the search
// panel (from the header's box, its button on narrow screens, or Ctrl+Shift+F), and going
// to a result in its channel.
import { ApiError, withQuery } from "./api.js";
import { isDirect } from "./format.js";
import { showChannel } from "./navigation.js";
import { call } from "./session.js";
import { appConfig, openChannel, panel } from "./store.js";

// The server refuses longer queries (422); said before asking.
export const MAX_QUERY = 500;
export const PAGE = 20;
export const SHORTCUT = "Ctrl+Shift+F";
export const SHORTCUT_ARIA = "Control+Shift+F";
// Below this width the panel covers the conversation (css/panels.css): a result opened
// from it closes it, or the message would stay hidden behind it.
const PANEL_COVERS = "(max-width: 63.99rem)";

export function isShortcut(event) {
  return (event.ctrlKey || event.metaKey) && event.shiftKey && !event.altKey && event.code === "KeyF";
}

export function tooLong(q) {
  return [...q].length > MAX_QUERY;
}

// The query sent: the words as written, narrowed to the channel the search started in when
// "Only in #channel" is on (unless the words name a channel themselves).
export function fullQuery(q, { here = false, scope = null } = {}) {
  const words = q.trim();
  if (!here || !scope || /(^|\s)in:/i.test(words)) return words;
  return `${words} in:#${scope.name}`;
}

export function searchMessages({ q, sort, cursor = null }) {
  return call(withQuery("/api/search/messages", { q, sort, limit: PAGE, cursor }));
}

// Files whose name or type contains the words as written (the operators are for messages).
export function searchFiles({ q, cursor = null }) {
  return call(withQuery("/api/search/files", { q, limit: PAGE, cursor }));
}

// What went wrong, in words for the panel.
export function searchError(error) {
  if (!(error instanceof ApiError)) return `The search failed: ${error}`;
  const long = (error.details?.errors ?? []).find((e) => e.type === "string_too_long");
  if (error.status === 422 && long) {
    return `The search is too long: at most ${long.ctx?.max_length ?? MAX_QUERY} characters.`;
  }
  if (error.status === 0) return error.message;
  return `The search failed: ${error.message}`;
}

// Open the panel (or keep it, with its sort and scope) on a query: "" shows the help.
// The server's switch (features.search, in GET /api/config): off, search is not offered.
export function searchEnabled() {
  return appConfig.value?.search !== false;
}

export function openSearch({ q = "", focus = false } = {}) {
  if (!searchEnabled()) return;
  const before = panel.value?.kind === "search" ? panel.value : null;
  const channel = openChannel.value;
  const scope =
    before?.scope ?? (channel && !isDirect(channel) ? { id: channel.id, name: channel.name } : null);
  panel.value = {
    kind: "search",
    q,
    sort: before?.sort ?? "relevance",
    view: before?.view ?? "messages",
    here: before?.here ?? false,
    scope,
    focus,
    asked: (before?.asked ?? 0) + 1,
  };
}

// The shortcut: to the query field that is on screen, else the panel with its own.
export function startSearch() {
  const inPanel = document.getElementById("search-panel-q");
  const box = document.getElementById("search-box-q");
  const field = inPanel ?? (box?.checkVisibility() ? box : null);
  if (field) {
    field.focus();
    field.select();
  } else {
    openSearch({ focus: true });
  }
}

// Open a result's channel around it, readable even when the user is not a member of a
// public one. A reply: the channel around its thread's root, and the thread in the panel
// (in place of the results), which keeps the focus.
export async function openResult(hit) {
  const reply = Boolean(hit.thread_id);
  if (!reply && window.matchMedia(PANEL_COVERS).matches) panel.value = null;
  await showChannel(hit.channel.id, { around: hit.thread_id ?? hit.id, focus: !reply });
  if (reply) panel.value = { kind: "thread", rootId: hit.thread_id };
}

// A file found: its message in its channel, as a message result opens.
export async function openFileResult(hit) {
  if (window.matchMedia(PANEL_COVERS).matches) panel.value = null;
  await showChannel(hit.channel_id, { around: hit.message_id });
}
