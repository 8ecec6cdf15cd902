// The signed-in chat's lifecycle: the socket first (its hello fixes the cursor), then the
// channel list and the open channel. Events that arrive before the list are kept and
// applied after it; they are safe to apply on top of it (events.js).
import { watchReading } from "./badge.js";
import { loadChannels } from "./channels.js";
import { applyMaintenance } from "./maintenance.js";
import { applyEvent } from "./events.js";
import { batch, effect } from "./lib/html.js";
import { defaultChannelId, openRoute, routeOf, showChannel } from "./navigation.js";
import { clearOutbox, flush, restoreOutbox } from "./outbox.js";
import { clearPresence, onPresence, onPresenceState, watchPartners } from "./presence.js";
import { watchPushRenewal } from "./push-renewal.js";
import { startRealtime, stopRealtime } from "./realtime.js";
import { forgetTimelines, readNewest, refreshNewest, reloadTimeline } from "./timeline.js";
import { clearTyping, onTyping } from "./typing.js";
import { clearUploads } from "./uploads.js";
import {
  channels,
  dialog,
  editingId,
  maintenance,
  notice,
  openChannelId,
  sidebarOpen,
} from "./store.js";

const LOAD_RETRY_MS = 3000;
// After a reconnect, the state is checked against the server within this many ms (spread
// out: after a restart every client comes back at once).
const RECONCILE_SPREAD_MS = 3000;
const CLOSE_BAD_TOKEN = 4001;

let held = null; // events received before the channel list, or null once it is here
let loadTimer = null;
let reconcileTimer = null;
let dropped = false; // the socket went away (not merely to renew its token) since the last hello
let stopWatching = null;
let stopReading = null;
let stopRenewal = null;

export function startChat() {
  held = [];
  restoreOutbox();
  startRealtime({ onHello, onEvent, onFrame, onResync, onDown });
  stopRenewal = watchPushRenewal();
  firstLoad();
}

export function stopChat() {
  stopRealtime();
  clearTimeout(loadTimer);
  clearTimeout(reconcileTimer);
  dropped = false;
  stopWatching?.();
  stopWatching = null;
  stopReading?.();
  stopReading = null;
  stopRenewal?.();
  stopRenewal = null;
  held = null;
  clearOutbox();
  clearUploads();
  clearTyping();
  clearPresence();
  forgetTimelines();
  batch(() => {
    channels.value = null;
    openChannelId.value = null;
    dialog.value = null;
    editingId.value = null;
    sidebarOpen.value = false;
    notice.value = null;
    maintenance.value = null;
  });
}

async function firstLoad() {
  clearTimeout(loadTimer);
  try {
    await loadChannels();
  } catch (error) {
    notice.value = { message: `The channel list could not be loaded: ${error.message}`, load: true };
    loadTimer = setTimeout(firstLoad, LOAD_RETRY_MS);
    return;
  }
  // Only its own: what else was said meanwhile (a refused address) stays.
  if (notice.value?.load) notice.value = null;
  const early = held ?? [];
  held = null;
  for (const event of early) applyEvent(event);
  stopWatching = effect(() => watchPartners());
  stopReading ??= watchReading();
  await openRoute(routeOf(), "replace");
}

function onHello(frame) {
  applyMaintenance(frame.maintenance);
  watchPartners({ force: true });
  flush();
  if (held !== null && loadTimer) firstLoad(); // the server is back: no need to wait
  if (dropped && held === null) {
    dropped = false;
    clearTimeout(reconcileTimer);
    reconcileTimer = setTimeout(reconcile, Math.random() * RECONCILE_SPREAD_MS);
  }
}

// The resumed stream replays what was missed; this checks the counts and the open channel
// against the server anyway, as a page reload would. (A server process that takes a
// socket before its hub has read where the log stands skips that socket's replay: seen
// after restarts.) Channels not open are loaded afresh when opened.
async function reconcile() {
  const id = openChannelId.value;
  forgetTimelines({ except: id });
  try {
    await loadChannels();
    if (id && !channels.value.has(id)) {
      notice.value = { message: "You are no longer in that conversation." };
      await showChannel(defaultChannelId(), { history: "replace" });
      return;
    }
    const lacked = id ? await refreshNewest(id) : 0;
    if (lacked) console.debug(`[nchat] the resumed stream lacked ${lacked} message(s); fetched`);
  } catch {
    // Away again: the next reconnect tries again.
    dropped = true;
  }
}

// While the socket is away nobody's presence is known, and typing signals stop coming.
function onDown(code) {
  clearPresence();
  clearTyping();
  if (code !== CLOSE_BAD_TOKEN) dropped = true;
}

function onEvent(event) {
  // Maintenance mode concerns the whole app: shown at once, not after the channel list.
  if (event.type.startsWith("maintenance.")) applyMaintenance(event.data);
  else if (held !== null) held.push(event);
  else applyEvent(event);
}

function onFrame(frame) {
  switch (frame.type) {
    case "typing":
      return onTyping(frame);
    case "presence":
      return onPresence(frame);
    case "presence_state":
      return onPresenceState(frame);
    default:
      return undefined; // pong, error answers to signals: nothing to show
  }
}

// The cursor is older than the log keeps: start over from fresh state.
async function onResync() {
  forgetTimelines();
  try {
    await loadChannels();
  } catch {
    return; // the next hello comes with a retry of its own
  }
  const id = openChannelId.value;
  if (id) reloadTimeline(id);
}

// The reader came back to the page: what they see now is read.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && openChannelId.value) {
    readNewest(openChannelId.value);
  }
});
