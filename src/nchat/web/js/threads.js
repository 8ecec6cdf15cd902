// The thread open in the side panel, the pinned and saved lists the panel shows, and what
// the user does to a message wherever it is shown: react, pin, save, edit, delete. Each
// change shows at once in every place that holds the message (the channel's timeline, the
// open thread, the open list), from the server's answer; events bring the same to others.
//
// store.thread is {rootId, channelId, root (null until loaded), replies (oldest first),
//   cursor (the last reply a page brought), hasMore, loading: null | "initial" | "more",
//   error, gen}
// `hasMore`: replies after `cursor` exist and come with the next page, so live ones wait
// for it (as a timeline's `hasNewer`).
// store.panelList is {kind: "pins" | "saved", channelId (pins), messages, hasMore, loading,
//   error, gen}: pins newest pinned first, saved ones newest first.
import { ApiError, withQuery } from "./api.js";
import { compareIds } from "./format.js";
import { learn } from "./people.js";
import { call } from "./session.js";
import {
  asDeleted,
  deleteMessage,
  editMessage,
  keepMine,
  replaceMessage,
  withReaction,
} from "./timeline.js";
import { panelList, savedIds, thread, userId } from "./store.js";

const THREAD_PAGE = 100;
const SAVED_PAGE = 50;
// The first this many saved messages tell the menus which ones are saved; past them a
// "Save" is offered again, and saving twice is harmless.
const KNOWN_SAVED = 200;
// Roles that may pin (the server's "pin:manage"): everyone but guests.
const PINNING_ROLES = new Set(["member", "moderator", "admin", "owner"]);

let generation = 0;

function messageOf(error) {
  return error instanceof ApiError ? error.message : String(error);
}

function merge(base, extra) {
  if (!extra.length) return base;
  const byId = new Map(base.map((m) => [m.id, m]));
  for (const message of extra) byId.set(message.id, message);
  return [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
}

export function canPin(role) {
  return PINNING_ROLES.has(role);
}

// -- the open thread -----------------------------------------------------------------------

export function openThread(rootId, root = null) {
  const gen = ++generation;
  thread.value = {
    rootId,
    channelId: root?.channel_id ?? null,
    root,
    replies: [],
    cursor: null,
    hasMore: false,
    loading: "initial",
    error: null,
    gen,
  };
  loadReplies(gen);
}

export function closeThread(rootId) {
  if (thread.value?.rootId === rootId) thread.value = null;
}

function changeThread(gen, mutate) {
  const t = thread.value;
  if (t && t.gen === gen) thread.value = mutate(t);
}

async function loadReplies(gen, after = null) {
  const t = thread.value;
  if (!t || t.gen !== gen) return;
  try {
    const page = await call(
      withQuery(`/api/messages/${t.rootId}/thread`, { after, limit: THREAD_PAGE }),
    );
    learn([page.root, ...page.replies].map((m) => m.user));
    changeThread(gen, (x) => ({
      ...x,
      channelId: page.root.channel_id,
      root: page.root,
      replies: merge(x.replies, page.replies),
      cursor: page.replies.at(-1)?.id ?? x.cursor,
      hasMore: page.has_more,
      loading: null,
    }));
  } catch (error) {
    changeThread(gen, (x) => ({ ...x, loading: null, error: messageOf(error) }));
  }
}

export function loadMoreReplies() {
  const t = thread.value;
  if (!t || t.loading || !t.hasMore) return;
  thread.value = { ...t, loading: "more", error: null };
  loadReplies(t.gen, t.cursor);
}

export function retryThread() {
  const t = thread.value;
  if (t) openThread(t.rootId, t.root);
}

// A reply, new or confirmed (the send's answer or the socket's message.created).
export function addReply(message) {
  const t = thread.value;
  if (!t || !message.thread_id || message.thread_id !== t.rootId) return;
  if (t.hasMore && !t.replies.some((m) => m.id === message.id)) return;
  learn([message.user]);
  thread.value = { ...t, replies: merge(t.replies, [message]) };
}

// The user's newest reply in the open thread that can still be edited.
export function lastOwnReply() {
  const me = userId.value;
  const replies = thread.value?.replies ?? [];
  for (let i = replies.length - 1; i >= 0; i--) {
    if (replies[i].user.id === me && !replies[i].deleted_at) return replies[i];
  }
  return null;
}

// -- one change, everywhere the panel shows the message ------------------------------------

// `mutate(message)` returns its new copy, or null when it is gone.
function changeShown(messageId, mutate) {
  const t = thread.value;
  if (t) {
    const root = t.root?.id === messageId ? (mutate(t.root) ?? asDeleted(t.root)) : t.root;
    const replies = changeIn(t.replies, messageId, mutate);
    if (root !== t.root || replies !== t.replies) thread.value = { ...t, root, replies };
  }
  const list = panelList.value;
  if (list) {
    // Lists leave deleted messages out, as the server's pages do.
    const messages = changeIn(list.messages, messageId, (m) => {
      const next = mutate(m);
      return next?.deleted_at ? null : next;
    });
    if (messages !== list.messages) panelList.value = { ...list, messages };
  }
}

function changeIn(messages, messageId, mutate) {
  const index = messages.findIndex((m) => m.id === messageId);
  if (index < 0) return messages;
  const next = mutate(messages[index]);
  const copy = messages.slice();
  if (next) copy[index] = next;
  else copy.splice(index, 1);
  return copy;
}

// What an event changes in the open thread and list (the channel's timeline is events.js's;
// new replies come through the outbox's confirm).
export function applyToPanels(event) {
  const data = event.data ?? {};
  switch (event.type) {
    case "message.updated":
      return changeShown(data.id, (m) => keepMine(m, data));
    case "message.deleted":
      return changeShown(data.message_id, (m) =>
        data.hard && m.id !== thread.value?.rootId ? null : asDeleted(m, event.created_at),
      );
    case "reaction.added":
    case "reaction.removed":
      return changeShown(data.message_id, (m) =>
        withReaction(m, data, event.type === "reaction.added"),
      );
    case "message.pinned":
    case "message.unpinned": {
      const pinned = event.type === "message.pinned";
      changeShown(data.message_id, (m) => ({ ...m, pinned }));
      const list = panelList.value;
      if (list?.kind === "pins" && list.channelId === event.channel_id) showPins(list.channelId);
      return undefined;
    }
    default:
      return undefined;
  }
}

// The server's copy after one of the user's own changes, wherever it is shown.
function showEverywhere(message) {
  replaceMessage(message);
  changeShown(message.id, () => message);
}

// -- the user's actions --------------------------------------------------------------------

export async function toggleReaction(message, emoji) {
  const mine = message.reactions.some((r) => r.emoji === emoji && r.me);
  const fresh = await call(`/api/messages/${message.id}/reactions`, {
    method: mine ? "DELETE" : "POST",
    body: { emoji },
  });
  showEverywhere(fresh);
}

// Adding one the user has already given changes nothing (the server keeps one of each).
export async function addReaction(messageId, emoji) {
  const fresh = await call(`/api/messages/${messageId}/reactions`, {
    method: "POST",
    body: { emoji },
  });
  showEverywhere(fresh);
}

export async function setPin(message, pin) {
  const fresh = await call(`/api/messages/${message.id}/pin`, { method: pin ? "POST" : "DELETE" });
  showEverywhere(fresh);
  const list = panelList.value;
  if (list?.kind === "pins" && list.channelId === fresh.channel_id) showPins(list.channelId);
}

export async function editEverywhere(message, text) {
  const edited = await editMessage(message, text);
  changeShown(edited.id, () => edited);
}

export async function deleteEverywhere(message) {
  await deleteMessage(message);
  changeShown(message.id, (m) => asDeleted(m));
}

// -- saved messages ------------------------------------------------------------------------

export function isSaved(messageId) {
  const known = savedIds.value;
  return Boolean(known && known.userId === userId.value && known.ids.has(messageId));
}

function markSaved(messageIds, saved) {
  const known = savedIds.value;
  const ids = new Set(known?.userId === userId.value ? known.ids : []);
  for (const id of messageIds) {
    if (saved) ids.add(id);
    else ids.delete(id);
  }
  savedIds.value = { userId: userId.value, ids };
}

// Which messages are saved, asked once a session (the message JSON does not say).
export async function knowSaved() {
  const me = userId.value;
  if (!me || savedIds.value?.userId === me) return;
  savedIds.value = { userId: me, ids: new Set() };
  try {
    const page = await call(withQuery("/api/bookmarks", { limit: KNOWN_SAVED }));
    markSaved(page.messages.map((m) => m.id), true);
  } catch {
    savedIds.value = null; // asked again next time
  }
}

export async function setSaved(message, save) {
  try {
    await call(`/api/messages/${message.id}/bookmark`, { method: save ? "POST" : "DELETE" });
  } catch (error) {
    // Removed already (in another tab): what the user wanted is so.
    if (!(error instanceof ApiError && error.code === "bookmark_not_found")) throw error;
  }
  markSaved([message.id], save);
  const list = panelList.value;
  if (list?.kind !== "saved") return;
  if (save) showSaved();
  else panelList.value = { ...list, messages: list.messages.filter((m) => m.id !== message.id) };
}

// -- the pinned and saved lists ------------------------------------------------------------

function startList(fields) {
  const gen = ++generation;
  const before = panelList.value;
  const same = before?.kind === fields.kind && before.channelId === fields.channelId;
  panelList.value = {
    messages: same ? before.messages : [],
    hasMore: false,
    error: null,
    ...fields,
    loading: "initial",
    gen,
  };
  return gen;
}

function finishList(gen, page, { append = false } = {}) {
  const list = panelList.value;
  if (!list || list.gen !== gen) return;
  learn(page.messages.map((m) => m.user));
  const messages = append ? [...list.messages, ...page.messages] : page.messages;
  // The saved list pages by its cursor (when the last one was saved), the others not at all.
  const next = page.next_cursor ?? null;
  panelList.value = { ...list, messages, hasMore: page.has_more, next, loading: null, error: null };
}

function failList(gen, error) {
  const list = panelList.value;
  if (list && list.gen === gen) panelList.value = { ...list, loading: null, error: messageOf(error) };
}

export async function showPins(channelId) {
  const gen = startList({ kind: "pins", channelId });
  try {
    finishList(gen, await call(`/api/channels/${channelId}/pins`));
  } catch (error) {
    failList(gen, error);
  }
}

export async function showSaved() {
  const gen = startList({ kind: "saved", channelId: null });
  try {
    const page = await call(withQuery("/api/bookmarks", { limit: SAVED_PAGE }));
    markSaved(page.messages.map((m) => m.id), true);
    finishList(gen, page);
  } catch (error) {
    failList(gen, error);
  }
}

export async function loadMoreSaved() {
  const list = panelList.value;
  if (list?.kind !== "saved" || list.loading || !list.hasMore || !list.next) return;
  const gen = list.gen;
  panelList.value = { ...list, loading: "more" };
  try {
    const page = await call(
      withQuery("/api/bookmarks", { cursor: list.next, limit: SAVED_PAGE }),
    );
    markSaved(page.messages.map((m) => m.id), true);
    finishList(gen, page, { append: true });
  } catch (error) {
    failList(gen, error);
  }
}

export function closeList(kind) {
  if (panelList.value?.kind === kind) panelList.value = null;
}
