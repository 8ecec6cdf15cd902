// The client's state: signals and computeds only. The action modules (session.js,
// channels.js, timeline.js, outbox.js, realtime.js, ...) set them; views read them and
// re-render. Collections are immutable values (a new Map or array on every change), so a
// view that kept an old one never sees it change under it.
import { computed, signal } from "./lib/html.js";

// -- who and where --------------------------------------------------------------------

// The signed-in user (the API's UserOut), or null.
export const user = signal(null);
// "loading" until the server said whether setup is done, "failed" if it could not.
export const phase = signal("loading");
export const setupDone = signal(false);
export const startError = signal(null);
// The public configuration (GET /api/config): the workspace's name and features.
export const appConfig = signal(null);
// The theme in effect: "system", "light" or "dark" (theme.js sets it).
export const themeMode = signal("system");

export const userId = computed(() => user.value?.id ?? null);

// The token of a password-reset link (/#/reset-password/<token>) while its page is open.
export const resetToken = signal(null);

export const screen = computed(() => {
  if (phase.value !== "ready") return phase.value;
  if (!setupDone.value) return "setup";
  if (resetToken.value) return "reset";
  return user.value ? "chat" : "signin";
});

// -- channels ---------------------------------------------------------------------------

// Channel id -> the API's ChannelOut for every channel the user is in (and public ones
// opened to look at); `null` until the first list arrived.
export const channels = signal(null);
// The channel the URL names (/channels/<id>), or null.
export const openChannelId = signal(null);
// Channel id -> {channel_id, level, muted}: the user's notification settings of the
// channels where they differ from the default (channels.js).
export const channelPrefs = signal(new Map());
export const openChannel = computed(() => {
  const id = openChannelId.value;
  return (id && channels.value?.get(id)) || null;
});

// -- messages ---------------------------------------------------------------------------

// Channel id -> the loaded window of its history (timeline.js describes the shape), for the
// open channel and a few recently open ones.
export const timelines = signal(new Map());
// Sends not confirmed by the server yet, oldest first (outbox.js describes the shape).
export const outbox = signal([]);
// The message being edited in place (its id; `${id}@thread` in the thread panel), or null.
export const editingId = signal(null);
// The thread open in the side panel (threads.js describes the shape), or null.
export const thread = signal(null);
// The pinned or saved messages the side panel lists (threads.js), or null.
export const panelList = signal(null);
// Ids of the messages the user saved, as far as this page knows (null: not asked yet).
export const savedIds = signal(null);
// Files picked for messages not sent yet, in the order picked (uploads.js describes the
// shape).
export const uploads = signal([]);

// -- realtime ---------------------------------------------------------------------------

// "idle" (signed out), "connecting" (first connection), "online", "reconnecting".
export const connection = signal("idle");
// Whether the browser thinks it has a network at all.
export const browserOnline = signal(navigator.onLine);
// Channel id, or a thread's root id -> Map(user id -> ms when the signal runs out).
export const typing = signal(new Map());
// User id -> "online" | "away" | "dnd" | "offline".
export const presence = signal(new Map());
// User id -> {id, username, name}: everyone the client has seen, for names by id.
export const people = signal(new Map());
// Maintenance mode while it is on (the data of the server's maintenance.* events and of
// the hello: {enabled, message, allow_admins, retry_after_s, started_at}), else null.
export const maintenance = signal(null);
// Whether this user's writes are refused now (admins may write when maintenance allows).
export const writesPaused = computed(() => {
  const state = maintenance.value;
  if (!state) return false;
  return !(state.allow_admins && ["admin", "owner"].includes(user.value?.role));
});

// -- the page ---------------------------------------------------------------------------

// The open dialog: null, or {kind: "browse" | "create" | "direct" | "switcher" | "confirm" |
// "lightbox", ...its own fields}.
export const dialog = signal(null);
// The panel beside the conversation: null, or {kind, ...its own fields}; side-panel.js
// lists the kinds.
export const panel = signal(null);
// The administration section shown instead of the chat (/#/admin/<section>), or null;
// set for owners and admins only (navigation.js).
export const adminSection = signal(null);
// The channel list as an overlay (narrow screens).
export const sidebarOpen = signal(false);
// Something that went wrong outside a form, said in role="alert": {message} or null.
export const notice = signal(null);
// New messages from others in the open channel, for the visually hidden live region.
export const announcement = signal("");
