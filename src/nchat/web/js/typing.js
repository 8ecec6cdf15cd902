// "X is typing…": the socket's typing signal, sent while the user writes (at most every few
// seconds; the server relays it to the channel's other sockets, where it lasts a few
// seconds unless repeated), and the signals of others, kept until they run out or the
// person's message arrives. A signal is for a channel or for one of its threads (named by
// its root message's id): kept under that id, the channel's indicator and a thread's each
// show their own.
import { sendFrame } from "./realtime.js";
import { typing } from "./store.js";

// The server relays one signal per channel every 2 s (dropping those in between) and each
// lasts 6 s: one every 3 s keeps the indicator up without a gap. A keystroke inside the
// 3 s sends when they are over (the trailing edge), so a new burst of typing shows soon.
const SEND_EVERY_MS = 3000;

const lastSent = new Map(); // channel or thread id -> ms
const trailing = new Map(); // channel or thread id -> timeout of the send at the interval's end
const timers = new Map(); // "channel-or-thread user" -> timeout

export function notifyTyping(channelId, threadId = null) {
  const where = threadId ?? channelId;
  const wait = (lastSent.get(where) ?? 0) + SEND_EVERY_MS - Date.now();
  if (wait <= 0) {
    if (sendFrame({ type: "typing", channel_id: channelId, thread_id: threadId })) {
      lastSent.set(where, Date.now());
    }
  } else if (!trailing.has(where)) {
    trailing.set(
      where,
      setTimeout(() => {
        trailing.delete(where);
        notifyTyping(channelId, threadId);
      }, wait),
    );
  }
}

// Sent (or cleared): no signal is owed for what was typed before.
export function doneTyping(where) {
  clearTimeout(trailing.get(where));
  trailing.delete(where);
}

function set(where, userId, until) {
  const next = new Map(typing.value);
  const inPlace = new Map(next.get(where) ?? []);
  if (until === null) inPlace.delete(userId);
  else inPlace.set(userId, until);
  if (inPlace.size) next.set(where, inPlace);
  else next.delete(where);
  typing.value = next;
}

export function onTyping(frame) {
  const { user_id: userId } = frame;
  const where = frame.thread_id ?? frame.channel_id;
  const ms = (frame.expires_in ?? 6) * 1000;
  const key = `${where} ${userId}`;
  clearTimeout(timers.get(key));
  timers.set(
    key,
    setTimeout(() => {
      timers.delete(key);
      set(where, userId, null);
    }, ms),
  );
  set(where, userId, Date.now() + ms);
}

// `where`: the channel's id, or the thread's root id (a reply was sent).
export function stoppedTyping(where, userId) {
  const key = `${where} ${userId}`;
  if (!timers.has(key)) return;
  clearTimeout(timers.get(key));
  timers.delete(key);
  set(where, userId, null);
}

export function clearTyping() {
  for (const timer of [...timers.values(), ...trailing.values()]) clearTimeout(timer);
  timers.clear();
  trailing.clear();
  lastSent.clear();
  if (typing.value.size) typing.value = new Map();
}
