// Names and times as people read them. Pure functions: no state, no requests.

const TIME = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const DAY = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});

export function timeOf(iso) {
  return TIME.format(new Date(iso));
}

export function fullTime(iso) {
  return FULL.format(new Date(iso));
}

// The local calendar day of a time, as a key ("2026-03-02").
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(iso, now = new Date()) {
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (key === dayKey(yesterday.toISOString())) return "Yesterday";
  return DAY.format(new Date(iso));
}

export function isDirect(channel) {
  return channel.type === "direct" || channel.type === "group";
}

// The people of a DM other than me (me alone: a note to self).
export function partners(channel, meId) {
  const others = (channel.dm_members ?? []).filter((m) => m.id !== meId);
  return others.length ? others : (channel.dm_members ?? []);
}

// What a channel is called in lists and headers: "general", or the DM's people.
export function channelTitle(channel, meId) {
  if (!isDirect(channel)) return channel.name ?? "channel";
  const names = partners(channel, meId).map((m) => m.name);
  return names.length ? names.join(", ") : "Direct message";
}

// "general" is shown as "#general" in headings and places that mix channels and people.
export function channelLabel(channel, meId) {
  return isDirect(channel) ? channelTitle(channel, meId) : `#${channel.name}`;
}

export function initials(name) {
  const words = (name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : words[0].slice(0, 2);
  return letters.toUpperCase();
}

// One of eight avatar colours (css: .hue-0 ... .hue-7), the same for a user everywhere.
export function hueOf(id) {
  let hash = 0;
  for (const ch of id ?? "") hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return Math.abs(hash) % 8;
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

// Ids are UUIDv7 strings: their text order is their time order.
export function compareIds(a, b) {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
