// The loaded window of a channel's history, and the actions that move or change it.
//
// A timeline (store.timelines, by channel id) is
//   {channelId, messages (oldest first, server copies only), hasOlder, hasNewer,
//    loading: null | "initial" | "older" | "newer", error, unreadFrom, gen}
// `hasNewer` means the window stops short of the channel's newest message: older pages
// pushed the newest out (the DOM stays bounded), or the channel opened at its read marker.
// Live messages are then left to the next page down. `unreadFrom` is the read marker when
// the channel was opened ("" when nothing was read yet; null when nothing was unread): the
// "New messages" line goes after it. `gen` changes whenever the
// window is replaced, so an answer for an older window is dropped. `target` ({id, focus}
// or null) is a message to bring into view, point out once and, with `focus`, focus
// (openAround); the list clears it.
import { ApiError, withQuery } from "./api.js";
import { markRead, noteSeen } from "./channels.js";
import { compareIds } from "./format.js";
import { learn } from "./people.js";
import { call } from "./session.js";
import { channels, openChannelId, timelines, userId } from "./store.js";

export const PAGE = 50;
// At most this many messages stay loaded (and in the DOM); pages past it push out the far
// end of the window, which is fetched again if scrolled back to.
export const MAX_LOADED = 300;
// Timelines kept for channels opened recently, so switching back is instant.
const KEPT = 6;

let generation = 0;

export function timelineOf(channelId) {
  return timelines.value.get(channelId) ?? null;
}

function put(timeline) {
  const next = new Map(timelines.value);
  next.delete(timeline.channelId); // re-inserted last: the map's order is recency
  next.set(timeline.channelId, timeline);
  while (next.size > KEPT) {
    const oldest = next.keys().next().value;
    if (oldest === openChannelId.value) break;
    next.delete(oldest);
  }
  timelines.value = next;
}

function change(channelId, mutate) {
  const timeline = timelineOf(channelId);
  if (!timeline) return null;
  const changed = mutate(timeline);
  if (changed && changed !== timeline) {
    const next = new Map(timelines.value);
    next.set(channelId, changed);
    timelines.value = next;
  }
  return changed;
}

export function forgetTimelines({ except = null } = {}) {
  const kept = except ? timelines.value.get(except) : null;
  timelines.value = kept ? new Map([[except, kept]]) : new Map();
}

// -- what the list view tells us -----------------------------------------------------------

// Whether the open channel's list is scrolled to its newest message in a visible page: a
// message arriving then is read as it comes.
let reading = { channelId: null, atBottom: false };

export function setReading(channelId, atBottom) {
  reading = { channelId, atBottom };
}

export function isReading(channelId) {
  const timeline = timelineOf(channelId);
  return (
    reading.channelId === channelId &&
    reading.atBottom &&
    openChannelId.value === channelId &&
    document.visibilityState === "visible" &&
    Boolean(timeline) &&
    !timeline.hasNewer
  );
}

// -- merging -------------------------------------------------------------------------------

// `base` and `extra` merged by id (extra's copy wins), oldest first.
function merge(base, extra) {
  if (!extra.length) return base;
  const byId = new Map(base.map((m) => [m.id, m]));
  for (const message of extra) byId.set(message.id, message);
  return [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
}

function learnAuthors(messages) {
  learn(messages.map((m) => m.user));
}

// -- loading -------------------------------------------------------------------------------

// Show a channel: its kept timeline, or its newest page (or the page around its read
// marker, when more is unread than a page holds).
export function openTimeline(channelId) {
  const channel = channels.value?.get(channelId);
  // Unread with no marker yet (never read): the line goes before the first of the others'.
  const marker = channel?.unread_count ? (channel.last_read_id ?? "") : null;
  const kept = timelineOf(channelId);
  if (kept && !kept.error) {
    put({ ...kept, unreadFrom: marker });
    return;
  }
  const around = marker && channel.unread_count > PAGE ? marker : null;
  load(channelId, { around, unreadFrom: marker });
}

// Show a channel around one of its messages (a search result): the kept window when it
// holds the message, else the page around it, which stops short of the newest (`hasNewer`)
// when more follow. The list scrolls to the message and points it out, and focuses it
// unless `focus` is false (what was opened with it, a thread panel, keeps the focus).
export function openAround(channelId, messageId, { focus = true } = {}) {
  const channel = channels.value?.get(channelId);
  const marker = channel?.unread_count ? (channel.last_read_id ?? "") : null;
  const target = { id: messageId, focus };
  const kept = timelineOf(channelId);
  if (kept && !kept.error && !kept.loading && kept.messages.some((m) => m.id === messageId)) {
    put({ ...kept, unreadFrom: marker, target });
    return;
  }
  load(channelId, { around: messageId, unreadFrom: marker, target });
}

// The list has shown the target (or found it gone): it is not pointed out again.
export function targetShown(channelId, target) {
  change(channelId, (t) => (t.target === target ? { ...t, target: null } : t));
}

async function load(channelId, { around = null, unreadFrom = null, target = null } = {}) {
  const gen = ++generation;
  const before = timelineOf(channelId);
  put({
    channelId,
    messages: before?.messages ?? [],
    hasOlder: before?.hasOlder ?? false,
    hasNewer: false,
    loading: "initial",
    error: null,
    unreadFrom,
    gen,
    target,
  });
  try {
    const page = await call(
      withQuery(`/api/channels/${channelId}/messages`, {
        limit: around ? PAGE * 2 : PAGE,
        around,
      }),
    );
    const messages = page.messages.slice().reverse();
    learnAuthors(messages);
    change(channelId, (t) => {
      if (t.gen !== gen) return t;
      // Live events that came while loading were added already; keep the newer ones.
      const newest = messages.at(-1)?.id;
      const live = t.messages.filter((m) => !newest || compareIds(m.id, newest) > 0);
      return {
        ...t,
        messages: merge(messages, around && page.has_more ? [] : live),
        hasOlder: around ? page.messages.length >= PAGE : page.has_more,
        hasNewer: Boolean(around) && page.has_more,
        loading: null,
      };
    });
  } catch (error) {
    change(channelId, (t) =>
      t.gen === gen ? { ...t, loading: null, error: messageOf(error) } : t,
    );
  }
}

// Compare the window's newest end with the server's newest page, after a reconnect: what
// the stream should have brought is there either way (the page wins for the span it covers:
// edits, deletes). Returns how many messages the window lacked.
export async function refreshNewest(channelId) {
  const t = timelineOf(channelId);
  if (!t || t.hasNewer || t.loading) return 0;
  const gen = t.gen;
  const page = await call(withQuery(`/api/channels/${channelId}/messages`, { limit: PAGE }));
  const fresh = page.messages.slice().reverse();
  learnAuthors(fresh);
  let lacked = 0;
  change(channelId, (x) => {
    if (x.gen !== gen || x.hasNewer || x.loading) return x;
    const known = new Set(x.messages.map((m) => m.id));
    lacked = fresh.filter((m) => !known.has(m.id)).length;
    const oldest = fresh[0]?.id;
    const newest = x.messages.at(-1)?.id;
    if (page.has_more && oldest && newest && compareIds(oldest, newest) > 0) {
      // More than a page went by: the window starts again from the newest page.
      return { ...x, messages: fresh, hasOlder: true };
    }
    const before = oldest ? x.messages.filter((m) => compareIds(m.id, oldest) < 0) : x.messages;
    return { ...x, messages: merge(before, fresh) };
  });
  return lacked;
}

export function reloadTimeline(channelId) {
  load(channelId, { unreadFrom: timelineOf(channelId)?.unreadFrom ?? null });
}

// Back to the newest messages (from a window further up).
export function jumpToLatest(channelId) {
  const t = timelineOf(channelId);
  if (t && !t.hasNewer) return false;
  load(channelId, { unreadFrom: t?.unreadFrom ?? null });
  return true;
}

export async function loadOlder(channelId) {
  const t = timelineOf(channelId);
  if (!t || t.loading || !t.hasOlder || !t.messages.length) return;
  const gen = t.gen;
  change(channelId, (x) => ({ ...x, loading: "older", error: null }));
  try {
    const page = await call(
      withQuery(`/api/channels/${channelId}/messages`, {
        before: t.messages[0].id,
        limit: PAGE,
      }),
    );
    const older = page.messages.slice().reverse();
    learnAuthors(older);
    change(channelId, (x) => {
      if (x.gen !== gen) return x;
      let messages = merge(x.messages, older);
      let hasNewer = x.hasNewer;
      if (messages.length > MAX_LOADED) {
        messages = messages.slice(0, MAX_LOADED);
        hasNewer = true;
      }
      return { ...x, messages, hasOlder: page.has_more, hasNewer, loading: null };
    });
  } catch (error) {
    change(channelId, (x) => (x.gen === gen ? { ...x, loading: null, error: messageOf(error) } : x));
  }
}

export async function loadNewer(channelId) {
  const t = timelineOf(channelId);
  if (!t || t.loading || !t.hasNewer || !t.messages.length) return;
  const gen = t.gen;
  change(channelId, (x) => ({ ...x, loading: "newer", error: null }));
  try {
    const page = await call(
      withQuery(`/api/channels/${channelId}/messages`, {
        after: t.messages.at(-1).id,
        limit: PAGE,
      }),
    );
    // With `after`, pages come oldest first.
    const newer = page.messages.slice().sort((a, b) => compareIds(a.id, b.id));
    learnAuthors(newer);
    change(channelId, (x) => {
      if (x.gen !== gen) return x;
      let messages = merge(x.messages, newer);
      let hasOlder = x.hasOlder;
      if (messages.length > MAX_LOADED) {
        messages = messages.slice(messages.length - MAX_LOADED);
        hasOlder = true;
      }
      return { ...x, messages, hasOlder, hasNewer: page.has_more, loading: null };
    });
  } catch (error) {
    change(channelId, (x) => (x.gen === gen ? { ...x, loading: null, error: messageOf(error) } : x));
  }
}

// -- changes from events and answers -------------------------------------------------------

// A new (or newly confirmed) message of the channel's top level. Added where the window
// reaches the newest message; the window's far end goes once it grows past the bound while
// the reader is at the bottom.
export function addMessage(message) {
  if (message.thread_id) return;
  learnAuthors([message]);
  noteSeen(message);
  change(message.channel_id, (t) => {
    if (t.hasNewer && t.loading !== "initial") return t;
    if (t.messages.some((m) => m.id === message.id)) return replaceIn(t, message);
    let messages = merge(t.messages, [message]);
    let hasOlder = t.hasOlder;
    if (messages.length > MAX_LOADED + PAGE / 2 && isReading(t.channelId)) {
      messages = messages.slice(messages.length - MAX_LOADED);
      hasOlder = true;
    }
    // A message that arrives while the page is hidden starts the "New messages" line.
    let unreadFrom = t.unreadFrom;
    if (!unreadFrom && document.visibilityState === "hidden" && message.user.id !== userId.value) {
      unreadFrom = t.messages.at(-1)?.id ?? null;
    }
    return { ...t, messages, hasOlder, unreadFrom };
  });
}

function replaceIn(t, message) {
  const index = t.messages.findIndex((m) => m.id === message.id);
  if (index < 0) return t;
  const messages = t.messages.slice();
  messages[index] = message;
  return { ...t, messages };
}

// `fromEvent`: an event's copy, whose reactions say `me` false for everyone (one copy goes
// to all readers): the loaded copy's `me` is kept.
export function replaceMessage(message, { fromEvent = false } = {}) {
  if (message.thread_id) return;
  learnAuthors([message]);
  change(message.channel_id, (t) => {
    const old = fromEvent ? t.messages.find((m) => m.id === message.id) : null;
    return replaceIn(t, old ? keepMine(old, message) : message);
  });
}

// An event's copy of `old` with the reader's own `me` on its reactions.
export function keepMine(old, fresh) {
  const mine = new Set(old.reactions.filter((r) => r.me).map((r) => r.emoji));
  if (!mine.size) return fresh;
  return { ...fresh, reactions: fresh.reactions.map((r) => (mine.has(r.emoji) ? { ...r, me: true } : r)) };
}

function changeMessage(channelId, messageId, mutate) {
  change(channelId, (t) => {
    const found = t.messages.find((m) => m.id === messageId);
    return found ? replaceIn(t, mutate(found)) : t;
  });
}

export function removeMessage(channelId, messageId, { hard = false, at = null } = {}) {
  if (hard) {
    change(channelId, (t) => {
      const messages = t.messages.filter((m) => m.id !== messageId);
      return messages.length === t.messages.length ? t : { ...t, messages };
    });
    return;
  }
  changeMessage(channelId, messageId, (m) => asDeleted(m, at));
}

// The placeholder a deleted message leaves.
export function asDeleted(m, at = null) {
  return {
    ...m,
    text: null,
    html: null,
    files: [],
    reactions: [],
    deleted_at: m.deleted_at ?? at ?? new Date().toISOString(),
  };
}

export function setReaction(channelId, data, added) {
  changeMessage(channelId, data.message_id, (m) => withReaction(m, data, added));
}

// `m` after a reaction event: the count is the server's, `me` changes only with our own.
export function withReaction(m, { emoji, user_id, count }, added) {
  const mine = user_id === userId.value;
  const reactions = m.reactions.slice();
  const index = reactions.findIndex((r) => r.emoji === emoji);
  const me = mine ? added : (reactions[index]?.me ?? false);
  if (count <= 0) {
    if (index >= 0) reactions.splice(index, 1);
  } else if (index >= 0) {
    reactions[index] = { emoji, count, me };
  } else {
    reactions.push({ emoji, count, me });
  }
  return { ...m, reactions };
}

export function setPinned(channelId, messageId, pinned) {
  changeMessage(channelId, messageId, (m) => ({ ...m, pinned }));
}

// -- the user's own edits and deletes ------------------------------------------------------

export async function editMessage(message, text) {
  const edited = await call(`/api/messages/${message.id}`, { method: "PUT", body: { text } });
  replaceMessage(edited);
  return edited;
}

export async function deleteMessage(message) {
  await call(`/api/messages/${message.id}`, { method: "DELETE" });
  removeMessage(message.channel_id, message.id);
}

// The user's newest message in the loaded window that can still be edited.
export function lastOwnMessage(channelId) {
  const t = timelineOf(channelId);
  const me = userId.value;
  for (let i = (t?.messages.length ?? 0) - 1; i >= 0; i--) {
    const m = t.messages[i];
    if (m.user.id === me && !m.deleted_at) return m;
  }
  return null;
}

// Read up to the newest message shown, when the reader is at it.
export function readNewest(channelId) {
  const t = timelineOf(channelId);
  if (!t || t.hasNewer || t.loading === "initial") return;
  const newest = t.messages.at(-1);
  if (newest && isReading(channelId)) markRead(channelId, newest.id).catch(() => {});
}

function messageOf(error) {
  return error instanceof ApiError ? error.message : String(error);
}
