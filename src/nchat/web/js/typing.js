// "X is typing…": the socket's typing signal, sent while the user writes (at most every few
// seconds; the server relays it to the channel's other sockets, where it lasts a few
// seconds unless repeated), and the signals of others, kept until they run out or the
// person's message arrives.
import { sendFrame } from "./realtime.js";
import { typing } from "./store.js";

// The server relays one signal per channel every 2 s (dropping those in between) and each
// lasts 6 s: one every 3 s keeps the indicator up without a gap. A keystroke inside the
// 3 s sends when they are over (the trailing edge), so a new burst of typing shows soon.
const SEND_EVERY_MS = 3000;

const lastSent = new Map(); // channel id -> ms
const trailing = new Map(); // channel id -> timeout of the send at the end of the interval
const timers = new Map(); // "channel user" -> timeout

export function notifyTyping(channelId) {
  const wait = (lastSent.get(channelId) ?? 0) + SEND_EVERY_MS - Date.now();
  if (wait <= 0) {
    if (sendFrame({ type: "typing", channel_id: channelId })) lastSent.set(channelId, Date.now());
  } else if (!trailing.has(channelId)) {
    trailing.set(
      channelId,
      setTimeout(() => {
        trailing.delete(channelId);
        notifyTyping(channelId);
      }, wait),
    );
  }
}

// Sent (or cleared): no signal is owed for what was typed before.
export function doneTyping(channelId) {
  clearTimeout(trailing.get(channelId));
  trailing.delete(channelId);
}

function set(channelId, userId, until) {
  const next = new Map(typing.value);
  const inChannel = new Map(next.get(channelId) ?? []);
  if (until === null) inChannel.delete(userId);
  else inChannel.set(userId, until);
  if (inChannel.size) next.set(channelId, inChannel);
  else next.delete(channelId);
  typing.value = next;
}

export function onTyping(frame) {
  const { channel_id: channelId, user_id: userId } = frame;
  const ms = (frame.expires_in ?? 6) * 1000;
  const key = `${channelId} ${userId}`;
  clearTimeout(timers.get(key));
  timers.set(
    key,
    setTimeout(() => {
      timers.delete(key);
      set(channelId, userId, null);
    }, ms),
  );
  set(channelId, userId, Date.now() + ms);
}

export function stoppedTyping(channelId, userId) {
  const key = `${channelId} ${userId}`;
  if (!timers.has(key)) return;
  clearTimeout(timers.get(key));
  timers.delete(key);
  set(channelId, userId, null);
}

export function clearTyping() {
  for (const timer of [...timers.values(), ...trailing.values()]) clearTimeout(timer);
  timers.clear();
  trailing.clear();
  lastSent.clear();
  if (typing.value.size) typing.value = new Map();
}
