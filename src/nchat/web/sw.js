// nchat's service worker, served at /sw.js so its scope is the whole client. It shows the
// pushes the server sends (Web Push, encrypted to this browser), opens the conversation
// when one is clicked, and keeps a renewed subscription going. It has no fetch handler:
// pages load exactly as they would without it, and it needs nothing from the network (its
// policy lets it load nothing).

self.addEventListener("install", () => self.skipWaiting());

// Pages open before it was registered are taken over too, so a click can navigate them.
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// {title, body, badge, tag, data: {type, channel_id, message_id, thread_id?, url}}
self.addEventListener("push", (event) => {
  let push = {};
  try {
    push = event.data ? event.data.json() : {};
  } catch {
    push = {}; // not JSON: a notification is still owed for every push
  }
  const shown = self.registration.showNotification(push.title || "nchat", {
    body: push.body || "",
    tag: push.tag || undefined,
    data: push.data || {},
  });
  const badge =
    Number.isInteger(push.badge) && self.navigator.setAppBadge
      ? self.navigator.setAppBadge(push.badge).catch(() => undefined)
      : undefined;
  event.waitUntil(Promise.all([shown, badge]));
});

// The browser renewed (or dropped) the push subscription: the endpoint the server has
// reaches no one now. The worker holds no token to tell the server, so it makes sure a
// subscription with the same server key exists and tells the open pages, which register it
// (push-renewal.js); a page opened later sees the change itself (decision 0061).
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(renewed(event.oldSubscription, event.newSubscription));
});

async function renewed(old, fresh) {
  const manager = self.registration.pushManager;
  const key = old?.options?.applicationServerKey;
  if (!fresh && !(await manager.getSubscription()) && key) {
    try {
      await manager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    } catch {
      // Permission gone, or no push service now: a page subscribes at its next start.
    }
  }
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage({ type: "pushsubscriptionchange" });
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(open(event.notification.data?.url));
});

// A window of the client, brought forward and sent to `url`; a new one when none is open
// or the link is another origin's (a public URL that differs from the page's).
async function open(url) {
  const target = new URL(url || "/", self.location.origin);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const client = windows.find((c) => c.focused) ?? windows[0];
  if (client && target.origin === self.location.origin) {
    try {
      const focused = await client.focus();
      return await focused.navigate(target.href);
    } catch {
      // Not controlled by this worker (navigate refuses): a new window instead.
    }
  }
  return self.clients.openWindow(target.href);
}
