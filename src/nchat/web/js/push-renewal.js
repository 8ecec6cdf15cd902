// A browser may renew its push subscription at any time (the `pushsubscriptionchange` the
// service worker hears), and the endpoint the server has then reaches no one. The worker
// holds no token, so it only makes sure a subscription exists and tells the open pages;
// the page registers the new one under this browser's device name, which replaces the old
// endpoint on the server. A page opened later finds the change by itself: the subscription
// differs from the one it registered (decision 0061). The work is in notifications.js,
// loaded only for a person who turned browser notifications on here.
import { userId } from "./store.js";

// {user_id, endpoint}: what was registered from this browser, and for whom.
export const REGISTERED_KEY = "nchat.push_registered";
const CHANGED = "pushsubscriptionchange";

export function registered() {
  try {
    return JSON.parse(localStorage.getItem(REGISTERED_KEY));
  } catch {
    return null;
  }
}

async function check() {
  const mine = registered();
  // Another person's (who enabled it here, then signed out): never carried over to this one.
  if (!mine || mine.user_id !== userId.value) return;
  const { renew } = await import("./notifications.js");
  await renew(mine);
}

function checkQuietly() {
  // Offline, or the server refused: the next start or change tries again.
  check().catch((error) => console.debug("[nchat] push renewal:", error));
}

function onMessage(event) {
  if (event.data?.type === CHANGED) checkQuietly();
}

// From the chat's start to its end: a check now, and one whenever the worker says.
export function watchPushRenewal() {
  const container = navigator.serviceWorker;
  if (!container) return () => {};
  container.addEventListener("message", onMessage);
  container.startMessages();
  checkQuietly();
  return () => container.removeEventListener("message", onMessage);
}
