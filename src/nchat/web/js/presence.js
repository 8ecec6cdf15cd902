// Who of the user's DM partners is online: the socket's presence_subscribe (replacing the
// list each time), answered with presence_state and followed by presence changes.
import { isDirect, partners } from "./format.js";
import { sendFrame } from "./realtime.js";
import { channels, presence, userId } from "./store.js";

const MAX_WATCHED = 200;
let watched = "";

function partnerIds() {
  const me = userId.value;
  const ids = new Set();
  for (const channel of channels.value?.values() ?? []) {
    if (channel.type !== "direct" || !channel.is_member || !isDirect(channel)) continue;
    for (const person of partners(channel, me)) if (person.id !== me) ids.add(person.id);
  }
  return [...ids].sort().slice(0, MAX_WATCHED);
}

// Subscribe to the current partners if they changed (or always, on a new socket).
export function watchPartners({ force = false } = {}) {
  const ids = partnerIds();
  const key = ids.join(",");
  if (!force && key === watched) return;
  if (sendFrame({ type: "presence_subscribe", user_ids: ids })) watched = key;
}

export function onPresenceState(frame) {
  const next = new Map(presence.value);
  for (const entry of frame.presence ?? []) next.set(entry.user_id, entry.status);
  presence.value = next;
}

export function onPresence(frame) {
  const next = new Map(presence.value);
  next.set(frame.user_id, frame.status);
  presence.value = next;
}

export function clearPresence() {
  watched = "";
  if (presence.value.size) presence.value = new Map();
}
