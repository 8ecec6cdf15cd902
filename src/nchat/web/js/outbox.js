// Sends, shown at once and confirmed later (Zulip's "local echo"). Each send carries a
// client_id chosen here; the server returns the first message again for a repeated one, so
// a send is retried until it is answered, across a dropped connection and a reload, and
// still appears once. The item goes when the server's copy arrives (the answer or the
// socket's message.created, whichever is first) and the message takes its place.
//
// An item is {client_id, channel_id, thread_id, text, files, created_at, state, error}
// (`thread_id`: the root of the thread it replies in, or null; `files`: the FileOut records
// of its uploads, sent as file_ids): state "sending" (a request is out), "waiting" (no
// connection; sent when it is back) or "failed" (refused: retry or discard; `error` says
// why).
import { ApiError } from "./api.js";
import { addMessage } from "./timeline.js";
import { addReply } from "./threads.js";
import { call } from "./session.js";
import { outbox, userId } from "./store.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const KEY_PREFIX = "nchat.outbox.";

let flushing = false;
let retryTimer = null;
let retryDelay = RETRY_MIN_MS;

function storageKey() {
  return userId.value ? KEY_PREFIX + userId.value : null;
}

function save(items) {
  outbox.value = items;
  const key = storageKey();
  if (!key) return;
  const kept = items.map(({ client_id, channel_id, thread_id, text, files, created_at, state, error }) => ({
    client_id,
    channel_id,
    thread_id,
    text,
    files,
    created_at,
    state: state === "failed" ? "failed" : "waiting",
    error,
  }));
  if (kept.length) localStorage.setItem(key, JSON.stringify(kept));
  else localStorage.removeItem(key);
}

function setItem(clientId, fields) {
  save(outbox.value.map((item) => (item.client_id === clientId ? { ...item, ...fields } : item)));
}

// What an earlier page of this user left unsent (a reload, a closed tab): sent now.
export function restoreOutbox() {
  const key = storageKey();
  let items = [];
  try {
    items = JSON.parse(localStorage.getItem(key) ?? "[]");
  } catch {
    items = [];
  }
  outbox.value = Array.isArray(items) ? items : [];
  flush();
}

export function clearOutbox() {
  clearTimeout(retryTimer);
  retryTimer = null;
  outbox.value = [];
}

export function send(channelId, text, files = [], { threadId = null } = {}) {
  const item = {
    client_id: crypto.randomUUID(),
    channel_id: channelId,
    thread_id: threadId,
    text,
    files,
    created_at: new Date().toISOString(),
    state: "waiting",
    error: null,
  };
  save([...outbox.value, item]);
  flush();
  return item;
}

export function retry(clientId) {
  setItem(clientId, { state: "waiting", error: null });
  flush();
}

export function discard(clientId) {
  save(outbox.value.filter((item) => item.client_id !== clientId));
}

// The server's copy of a message: the item it confirms is done.
export function confirm(message) {
  if (message.client_id && message.user?.id === userId.value) {
    const left = outbox.value.filter((item) => item.client_id !== message.client_id);
    if (left.length !== outbox.value.length) save(left);
  }
  addMessage(message);
  addReply(message);
}

// Send what waits, one at a time in the order written. Called on every send, when the
// socket is back, when the browser is online again, and on a timer while something waits.
export async function flush() {
  if (flushing) return;
  flushing = true;
  clearTimeout(retryTimer);
  retryTimer = null;
  try {
    for (;;) {
      const item = outbox.value.find((i) => i.state === "waiting");
      if (!item) break;
      if (!(await attempt(item))) {
        // The server is away: the rest waits as well.
        retryTimer = setTimeout(flush, retryDelay * (0.5 + Math.random() / 2));
        retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
        break;
      }
      retryDelay = RETRY_MIN_MS;
    }
  } finally {
    flushing = false;
  }
}

// One send; false when the server could not be reached (or asked to wait).
async function attempt(item, tries = 0) {
  setItem(item.client_id, { state: "sending", error: null });
  try {
    const message = await call("/api/messages", {
      method: "POST",
      body: {
        channel_id: item.channel_id,
        thread_id: item.thread_id ?? undefined,
        text: item.text,
        client_id: item.client_id,
        file_ids: (item.files ?? []).map((file) => file.id),
      },
    });
    confirm(message);
    return true;
  } catch (error) {
    const status = error instanceof ApiError ? error.status : -1;
    if (status === 409 && error.code === "channel_changed" && tries < 2) {
      return attempt(item, tries + 1); // the membership moved under the send: once more
    }
    if (status === 0 || status >= 500 || status === 429) {
      if (!outbox.value.some((i) => i.client_id === item.client_id)) return true; // confirmed meanwhile
      setItem(item.client_id, { state: "waiting" });
      if (status === 429 && error.retryAfter) retryDelay = error.retryAfter * 1000;
      return false;
    }
    setItem(item.client_id, {
      state: "failed",
      error: error instanceof ApiError ? error.message : String(error),
    });
    return true;
  }
}
