// What this device shows outside the page follows what the person has read, here or on
// another device (read markers come back as read.updated, counts follow): the app badge
// counts unread mentions and direct messages, as the pushes' `badge` does, and is cleared at
// zero; the notifications the service worker showed for messages now read are closed.
// Browsers without the Badging API or notifications are left alone.
import { compareIds } from "./format.js";
import { effect } from "./lib/html.js";
import { channels } from "./store.js";

let badge = null; // what this page last set, so an unchanged count calls nothing
let markers = new Map(); // channel id -> the read marker last looked at

// Unread mentions, which in a DM are its every unread message (the server counts them so):
// what the pushes' badge counts.
export function unreadTotal(map) {
  let total = 0;
  for (const channel of map?.values() ?? []) {
    if (channel.is_member) total += channel.mention_count ?? 0;
  }
  return total;
}

function setBadge(count) {
  if (count === badge || typeof navigator.setAppBadge !== "function") return;
  badge = count;
  // Refused where the page may not badge (not installed, say): nothing to tell anyone.
  const done = count > 0 ? navigator.setAppBadge(count) : navigator.clearAppBadge();
  done.catch(() => {});
}

// The shown notifications of these channels whose message is at or before the channel's
// read marker (ids grow with time, as the server's unread counts assume).
async function closeRead(map, changed) {
  const registration = await navigator.serviceWorker?.getRegistration("/");
  if (typeof registration?.getNotifications !== "function") return;
  for (const shown of await registration.getNotifications()) {
    const { channel_id: channelId, message_id: messageId } = shown.data ?? {};
    if (!changed.has(channelId) || !messageId) continue;
    const read = map.get(channelId)?.last_read_id;
    if (read && compareIds(messageId, read) <= 0) shown.close();
  }
}

// From the first channel list until the chat stops; the first look closes what was read
// elsewhere while this page was closed.
export function watchReading() {
  markers = new Map();
  const stop = effect(() => {
    const map = channels.value;
    if (!map) return;
    setBadge(unreadTotal(map));
    const changed = new Set();
    const next = new Map();
    for (const [id, channel] of map) {
      next.set(id, channel.last_read_id);
      if (channel.last_read_id && markers.get(id) !== channel.last_read_id) changed.add(id);
    }
    markers = next;
    if (changed.size) closeRead(map, changed).catch(() => {});
  });
  return () => {
    stop();
    markers = new Map();
    setBadge(0); // signed out, or another person: their count is not theirs to see
    badge = null;
  };
}
