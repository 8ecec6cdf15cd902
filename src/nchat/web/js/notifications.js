// The user's notification preferences, their push devices, and this browser's
// notifications (Web Push): the service worker at /sw.js, a subscription made with the
// server's VAPID key, registered as a device of the signed-in session under a name kept in
// this browser. Signing the session out unregisters it on the server; the browser keeps its
// subscription, which "Enable" registers again. A subscription the browser renewed is
// registered again (`renew`, push-renewal.js). Loaded with Settings, not with the page.
import { ApiError, withQuery } from "./api.js";
import { REGISTERED_KEY } from "./push-renewal.js";
import { call } from "./session.js";
import { userId } from "./store.js";

const DEVICE_KEY = "nchat.push_device";
const WORKER = "/sw.js";
const PREFERENCES = "/api/users/me/notification-preferences";

export function loadPreferences() {
  return call(PREFERENCES);
}

export function savePreferences(changes) {
  return call(PREFERENCES, { method: "PUT", body: changes });
}

export function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// This browser's device name on the server: made once, kept across sessions.
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = `web-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

async function subscription() {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return (await registration?.pushManager.getSubscription()) ?? null;
}

// "unsupported", "blocked" (the user or the browser refused), "on" (subscribed, and the
// server has this subscription under this browser's name) or "off"; `devices` is the
// server's list.
export async function browserState(devices) {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  if (Notification.permission !== "granted") return "off";
  const current = await subscription();
  const mine = devices.find((d) => d.device_id === deviceId());
  return current && mine?.endpoint === current.endpoint ? "on" : "off";
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return true; // not told: assume the subscription is for this server
  const have = new Uint8Array(buffer);
  return have.length === bytes.length && have.every((b, i) => b === bytes[i]);
}

// A subscription with the server's key: the one there, else a new one.
async function subscribed(registration) {
  const { public_key: publicKey } = await call("/api/push/vapid-public-key");
  const key = keyBytes(publicKey);
  let current = await registration.pushManager.getSubscription();
  if (current && !sameKey(current.options?.applicationServerKey, key)) {
    await current.unsubscribe(); // made for another server key: it would be refused
    current = null;
  }
  return (
    current ??
    registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
  );
}

// Registered under this browser's device name (again: the server replaces that device's
// endpoint), and remembered as this person's (push-renewal.js).
async function register(current) {
  await call("/api/push/register", {
    method: "POST",
    body: { platform: "webpush", device_id: deviceId(), subscription: current.toJSON() },
  });
  localStorage.setItem(REGISTERED_KEY, JSON.stringify({ user_id: userId.value, endpoint: current.endpoint }));
}

// Asks the user, subscribes and registers; the state it ends in.
export async function enable() {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return permission === "denied" ? "blocked" : "off";
  await navigator.serviceWorker.register(WORKER, { scope: "/" });
  // Subscribing needs an active worker.
  await register(await subscribed(await navigator.serviceWorker.ready));
  return "on";
}

// This browser's subscription checked against what was registered from here (`mine`, for
// the signed-in person): a renewed or lost one is registered anew. A device the server no
// longer has while the subscription is unchanged was taken away on purpose (removed in
// Settings elsewhere, or its session signed out): then this browser forgets it instead.
export async function renew(mine) {
  if (!supported() || Notification.permission !== "granted") return;
  if (!(await navigator.serviceWorker.getRegistration("/"))) return;
  const run = async () => {
    const current = await subscribed(await navigator.serviceWorker.ready);
    const device = (await listDevices()).find((d) => d.device_id === deviceId());
    if (device?.endpoint === current.endpoint) return;
    if (!device && current.endpoint === mine.endpoint) {
      localStorage.removeItem(REGISTERED_KEY);
      return;
    }
    await register(current);
  };
  // Every open tab hears the worker: one registers, the others then find it done.
  await (navigator.locks ? navigator.locks.request("nchat.push", run) : run());
}

// Unregisters this browser on the server first (nothing changes if that fails), then
// ends its subscription.
export async function disable() {
  await removeDevice(deviceId());
  localStorage.removeItem(REGISTERED_KEY);
  await (await subscription())?.unsubscribe();
  return Notification.permission === "denied" ? "blocked" : "off";
}

// One of the user's devices taken off the server; one gone already counts as done.
export async function removeDevice(name) {
  try {
    await call(withQuery("/api/push/unregister", { device_id: name }), { method: "DELETE" });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
}

export async function listDevices() {
  return (await call("/api/push/devices")).devices;
}
