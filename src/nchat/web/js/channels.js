// The channel list and what changes it: the first load, joins, leaves, new channels and
// DMs, unread and mention counts, read markers, the user's notification settings of each
// (mute, level). The list lives in store.channels, the settings in store.channelPrefs.
import { ApiError, withQuery } from "./api.js";
import { compareIds, isDirect } from "./format.js";
import { batch } from "./lib/html.js";
import { learn } from "./people.js";
import { call } from "./session.js";
import { channelPrefs, channels, userId } from "./store.js";

const PAGE = 500;
const REFRESH_DELAY_MS = 250;
const NO_PREFS = { level: "default", muted: false };

function update(mutate) {
  const next = new Map(channels.value ?? []);
  mutate(next);
  channels.value = next;
}

function learnMembers(list) {
  learn(list.flatMap((c) => c.dm_members ?? []));
}

async function memberChannels() {
  const found = new Map();
  let cursor = null;
  do {
    const page = await call(withQuery("/api/channels", { member: true, limit: PAGE, cursor }));
    for (const channel of page.channels) found.set(channel.id, channel);
    cursor = page.next_cursor;
  } while (cursor);
  return found;
}

// Every channel and DM the user is in, and their notification settings (the list marks
// muted ones). A channel being looked at without membership (a public one opened from a
// link) stays.
export async function loadChannels() {
  const [found, prefs] = await Promise.all([
    memberChannels(),
    call("/api/users/me/channel-notification-preferences"),
  ]);
  for (const [id, channel] of channels.value ?? []) {
    if (!channel.is_member && !found.has(id)) found.set(id, channel);
  }
  learnMembers([...found.values()]);
  batch(() => {
    channels.value = found;
    channelPrefs.value = new Map(prefs.channels.map((p) => [p.channel_id, p]));
  });
}

export function prefsOf(id) {
  return channelPrefs.value.get(id) ?? NO_PREFS;
}

// Mute or unmute a channel, or set its level; the server's answer is kept.
export async function changePrefs(id, changes) {
  setPrefs(await call(`/api/channels/${id}/notification-preferences`, { method: "PUT", body: changes }));
}

// A channel's settings as the server has them now: its answer here, or the event that
// tells every client of the user (a change made on another device).
export function setPrefs(prefs) {
  channelPrefs.value = new Map(channelPrefs.value).set(prefs.channel_id, prefs);
}

export function putChannel(channel) {
  learnMembers([channel]);
  update((map) => map.set(channel.id, channel));
}

export function patchChannel(id, fields) {
  const known = channels.value?.get(id);
  if (known) update((map) => map.set(id, { ...known, ...fields }));
}

export function dropChannel(id) {
  if (channels.value?.has(id)) update((map) => map.delete(id));
}

// The user's view of one channel from the server (counts included); null when it is not
// there for them (404).
export async function fetchChannel(id) {
  try {
    const channel = await call(`/api/channels/${id}`);
    putChannel(channel);
    return channel;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
      dropChannel(id);
      return null;
    }
    throw error;
  }
}

// Counts change in ways only the server can tell exactly (a deleted unread message, a
// marker moved by another device): ask again, once for a burst.
const refreshTimers = new Map();
export function refreshSoon(id) {
  if (refreshTimers.has(id) || !channels.value?.get(id)?.is_member) return;
  refreshTimers.set(
    id,
    setTimeout(() => {
      refreshTimers.delete(id);
      fetchChannel(id).catch(() => {});
    }, REFRESH_DELAY_MS),
  );
}

export async function joinChannel(id) {
  putChannel(await call(`/api/channels/${id}/join`, { method: "POST" }));
}

export async function leaveChannel(id) {
  await call(`/api/channels/${id}/leave`, { method: "POST" });
  dropChannel(id);
}

export async function createChannel({ name, type, topic }) {
  const channel = await call("/api/channels", { method: "POST", body: { name, type, topic } });
  putChannel(channel);
  return channel;
}

// Find or create the DM (one other person) or group DM with these people.
export async function openDirect(userIds) {
  const channel = await call("/api/channels/direct", {
    method: "POST",
    body: { user_ids: userIds },
  });
  putChannel(channel);
  return channel;
}

// Public channels to join, by name (the caller's own included, marked is_member).
export async function browsePublic(q) {
  const page = await call(
    withQuery("/api/channels", { type: "public", q: q || null, limit: 100 }),
  );
  return page.channels.sort((a, b) => a.name.localeCompare(b.name));
}

function mentionsMe(message, me) {
  const m = message.mentions ?? {};
  return Boolean(m.channel || m.here || m.user_ids?.includes(me));
}

// A new message in a channel the user is not reading right now: it counts as unread (and as
// a mention, as every message of a DM does) unless it is their own, a thread reply, or
// already in the counts the list came with (its time is not past the channel's newest).
export function countIncoming(message) {
  const channel = channels.value?.get(message.channel_id);
  if (!channel?.is_member || message.thread_id) return;
  const me = userId.value;
  const at = Date.parse(message.created_at);
  const newest = channel.last_message_at ? Date.parse(channel.last_message_at) : -Infinity;
  if (at <= newest) return;
  const fields = { last_message_at: message.created_at };
  if (message.user.id !== me) {
    fields.unread_count = (channel.unread_count ?? 0) + 1;
    if (isDirect(channel) || mentionsMe(message, me)) {
      fields.mention_count = (channel.mention_count ?? 0) + 1;
    }
  }
  patchChannel(channel.id, fields);
}

// A message the user is reading as it arrives: the channel's newest, nothing unread.
export function noteSeen(message) {
  const channel = channels.value?.get(message.channel_id);
  if (!channel || message.thread_id) return;
  const at = Date.parse(message.created_at);
  const newest = channel.last_message_at ? Date.parse(channel.last_message_at) : -Infinity;
  if (at > newest) patchChannel(channel.id, { last_message_at: message.created_at });
}

const marking = new Map(); // channel id -> the message id being posted

// Move the read marker to `messageId` (never back). Counts follow from the answer.
export async function markRead(channelId, messageId) {
  const channel = channels.value?.get(channelId);
  if (!channel?.is_member) return;
  const current = marking.get(channelId) ?? channel.last_read_id;
  if (current && compareIds(messageId, current) <= 0) return;
  marking.set(channelId, messageId);
  try {
    const read = await call(`/api/channels/${channelId}/read`, {
      method: "POST",
      body: { message_id: messageId },
    });
    patchChannel(channelId, {
      last_read_id: read.last_read_id,
      unread_count: read.unread_count,
      mention_count: read.mention_count,
    });
  } catch (error) {
    // Gone meanwhile (deleted message, left channel): the next event or load says more.
    if (!(error instanceof ApiError) || error.status === 0 || error.status >= 500) throw error;
  } finally {
    if (marking.get(channelId) === messageId) marking.delete(channelId);
  }
}

// Another device (or tab) moved the marker: take it and the counts the event brings as they
// were after that read. An event older than the marker known here (replayed after a
// reconnect) changes nothing; one from an older server, without counts, asks for them.
export function readElsewhere(read) {
  const channel = channels.value?.get(read.channel_id);
  if (!channel) return;
  const known = channel.last_read_id;
  if (known && read.last_read_id && compareIds(read.last_read_id, known) < 0) return;
  if (read.unread_count === undefined) {
    batch(() => {
      patchChannel(read.channel_id, { last_read_id: read.last_read_id });
      refreshSoon(read.channel_id);
    });
    return;
  }
  patchChannel(read.channel_id, {
    last_read_id: read.last_read_id,
    unread_count: read.unread_count,
    mention_count: read.mention_count,
  });
}

// The list's sections, in the order people look for them.
export function sections(map, me) {
  const named = [];
  const direct = [];
  for (const channel of map?.values() ?? []) {
    if (!channel.is_member || channel.archived) continue;
    (isDirect(channel) ? direct : named).push(channel);
  }
  named.sort((a, b) => a.name.localeCompare(b.name));
  const recent = (c) => Date.parse(c.last_message_at ?? c.created_at);
  direct.sort((a, b) => recent(b) - recent(a));
  return { named, direct, me };
}
