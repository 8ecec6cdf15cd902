// The one WebSocket to /api/ws: authenticate with the first frame, follow the event stream
// from the cursor of the last event applied, and come back after any drop with ?since= so
// nothing is missed or repeated (the server replays what the cursor has not seen). Back-off
// with full jitter between attempts; at once when the browser is online again or the tab
// becomes visible. What the frames mean is the handlers' business (live.js).
import { freshToken, refresh, tokenSecondsLeft } from "./session.js";
import { browserOnline, connection } from "./store.js";

// localStorage "nchat.debug" set: the socket's life in the console (opens, closes, frames).
const debug = localStorage.getItem("nchat.debug")
  ? (...args) => console.debug("[nchat ws]", ...args)
  : () => {};

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
// Renew the socket's token this long before it runs out (the server closes it then).
const RENEW_EARLY_S = 60;

// The server pings every heartbeat: this many heartbeats of silence means the connection is
// gone without a close (a dropped network, a sleeping laptop), and it is given up.
const SILENT_HEARTBEATS = 2.5;

const CLOSE_BAD_TOKEN = 4001;
const CLOSE_RESYNC = 4009;
const CLOSE_TOO_MANY = 4029;

let handlers = null; // {onHello, onEvent, onFrame, onResync, onDown}
let socket = null;
let cursor = null; // the id of the last event applied (or hello's), null before any
let attempt = 0;
let retryTimer = null;
let renewTimer = null;
let running = false;
let lastHeard = 0;
let watchdog = null;

export function startRealtime(on) {
  handlers = on;
  running = true;
  cursor = null;
  attempt = 0;
  connection.value = "connecting";
  open();
}

export function stopRealtime() {
  running = false;
  clearTimeout(retryTimer);
  clearTimeout(renewTimer);
  clearInterval(watchdog);
  const old = socket;
  socket = null;
  if (old) old.close(1000, "signed out");
  connection.value = "idle";
}

// A frame for the server (typing, presence...): dropped while the socket is down, as these
// signals mean nothing later.
export function sendFrame(frame) {
  if (socket?.readyState === WebSocket.OPEN && connection.value === "online") {
    socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

async function open() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (!running || socket) return;
  let token;
  try {
    token = await freshToken();
  } catch {
    return later(); // unreachable, or the server failed: try again later
  }
  if (!running || socket) return;
  if (token === null) return stopRealtime(); // the session ended: session.js signs out
  const base = `${location.origin.replace(/^http/, "ws")}/api/ws`;
  const ws = new WebSocket(cursor ? `${base}?since=${encodeURIComponent(cursor)}` : base);
  debug("open", cursor ? `since ${cursor}` : "from now", `attempt ${attempt}`);
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
  ws.onmessage = (message) => {
    if (socket !== ws) return;
    lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    receive(ws, frame);
  };
  ws.onclose = (event) => {
    debug("closed", event.code, event.reason);
    if (socket !== ws) return;
    socket = null;
    clearTimeout(renewTimer);
    clearInterval(watchdog);
    closed(event.code);
  };
}

function watch(ws, heartbeatS) {
  clearInterval(watchdog);
  const limit = SILENT_HEARTBEATS * heartbeatS * 1000;
  watchdog = setInterval(() => {
    if (socket !== ws || Date.now() - lastHeard <= limit) return;
    // A close handshake with a peer that is gone can take minutes: give up on it now.
    socket = null;
    clearInterval(watchdog);
    clearTimeout(renewTimer);
    ws.close();
    closed(1006);
  }, heartbeatS * 1000);
}

function receive(ws, frame) {
  if (frame.type !== "ping") debug(frame.type, frame.event?.type ?? "", frame.event?.data?.text ?? "");
  switch (frame.type) {
    case "hello":
      cursor = frame.cursor;
      attempt = 0;
      connection.value = "online";
      renewBefore(frame.expires_in);
      watch(ws, frame.heartbeat_s ?? 25);
      handlers.onHello(frame);
      break;
    case "event":
      handlers.onEvent(frame.event);
      // Moved past only once applied: a handler that threw leaves the cursor before it.
      cursor = frame.event.id;
      break;
    case "ping":
      ws.send(JSON.stringify({ type: "pong" }));
      break;
    case "auth_ok":
      renewBefore(frame.expires_in);
      break;
    case "resync_required":
      cursor = null; // the close (4009) that follows starts over
      break;
    default:
      handlers.onFrame(frame);
  }
}

function closed(code) {
  if (!running) return;
  connection.value = "reconnecting";
  handlers.onDown(code);
  if (code === CLOSE_RESYNC) {
    cursor = null;
    handlers.onResync();
  }
  if (code === CLOSE_BAD_TOKEN) {
    // The token ran out or the session ended: a refresh tells which.
    const first = attempt === 0;
    attempt += 1;
    refresh()
      .then((ok) => {
        if (!ok) stopRealtime();
        else if (first) open();
        else later();
      })
      .catch(() => later());
    return;
  }
  if (code === CLOSE_TOO_MANY) attempt = Math.max(attempt, 4);
  later();
}

function later() {
  if (!running) return;
  connection.value = connection.value === "connecting" ? "connecting" : "reconnecting";
  const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  attempt += 1;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(open, Math.random() * cap);
}

// Give the socket a fresh token before its own runs out (`auth` frame, answered auth_ok).
function renewBefore(expiresIn) {
  clearTimeout(renewTimer);
  if (expiresIn === null || expiresIn === undefined) return;
  const wait = Math.max(5, expiresIn - RENEW_EARLY_S) * 1000;
  renewTimer = setTimeout(async () => {
    try {
      if (tokenSecondsLeft() <= RENEW_EARLY_S && !(await refresh())) return;
      const token = await freshToken();
      if (token) sendFrame({ type: "auth", token });
    } catch {
      // Offline: the socket closes with 4001 if it comes to that, and reconnects.
    }
  }, wait);
}

function now() {
  if (running && !socket && retryTimer) open();
}

window.addEventListener("online", () => {
  browserOnline.value = true;
  now();
});
window.addEventListener("offline", () => {
  browserOnline.value = false;
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") now();
});
