// Which channel is open, said by the URL (/channels/<id>): opening one pushes a history
// entry, Back and Forward open what they name, a reload opens the same channel again.
// A message's link is /#/c/<channel>/m/<message> (a reply's adds /r/<reply> to its root's):
// opened on load or when the fragment changes, it shows the channel around the message (a
// reply: the thread too) and the address becomes the channel's. A fragment, not a path:
// it works whatever path the link is opened at, and never reaches a server's logs.
// The administration pages are /#/admin/<section> over the channel's path (Back leaves them
// for the chat), and a password-reset email links to /#/reset-password/<token>.
import { fetchChannel, sections } from "./channels.js";
import { channelLabel } from "./format.js";
import { batch } from "./lib/html.js";
import { openAround, openTimeline } from "./timeline.js";
import {
  adminSection,
  channels,
  editingId,
  notice,
  openChannelId,
  panel,
  resetToken,
  sidebarOpen,
  user,
  userId,
} from "./store.js";

const PATH = /^\/channels\/([0-9a-f-]{36})\/?$/i;
const ID = "([0-9a-f-]{36})";
const LINK = new RegExp(`^#/c/${ID}(?:/m/${ID}(?:/r/${ID})?)?/?$`, "i");
const COPIED_MS = 4000;
const LAST_KEY = "nchat.last_channel.";
const ADMIN = /^#\/admin(?:\/([a-z-]+))?\/?$/;
const ADMIN_ROLES = new Set(["owner", "admin"]);
const RESET = /^#\/reset-password\/([A-Za-z0-9._~-]+)$/;
// Whether the admin pages were opened from the chat in this page, so that leaving them is
// the browser's Back (a page opened at their address has no chat entry before it).
let adminFromChat = false;

function channelIdFromPath(path = location.pathname) {
  return PATH.exec(path)?.[1]?.toLowerCase() ?? null;
}

export function pathOf(channelId) {
  return channelId ? `/channels/${channelId}` : "/";
}

// What a URL opens: {channelId, messageId, replyId}, each null when not named.
export function routeOf(url = location) {
  const found = LINK.exec(url.hash) ?? [];
  const [, channelId, messageId, replyId] = found.map((id) => id?.toLowerCase() ?? null);
  if (channelId) return { channelId, messageId, replyId };
  return { channelId: channelIdFromPath(url.pathname), messageId: null, replyId: null };
}

function linkTo(message) {
  const at = message.thread_id ? `${message.thread_id}/r/${message.id}` : message.id;
  return `${location.origin}/#/c/${message.channel_id}/m/${at}`;
}

// The link on the clipboard, said in the notice; where the page may not write there (plain
// HTTP other than localhost), the notice shows the link to copy by hand.
export async function copyLink(message) {
  const url = linkTo(message);
  let said = { message: "Link copied.", ok: true };
  try {
    await navigator.clipboard.writeText(url);
  } catch {
    said = { message: `Copy this link: ${url}` };
  }
  notice.value = said;
  if (said.ok) setTimeout(() => notice.value === said && (notice.value = null), COPIED_MS);
}

// Open what a route names (no channel: the one to go to by default).
export async function openRoute({ channelId, messageId, replyId }, how) {
  const id = channelId ?? defaultChannelId();
  await showChannel(id, { history: how, around: messageId, focus: !replyId });
  if (replyId && openChannelId.value === channelId) {
    panel.value = { kind: "thread", rootId: messageId, target: replyId };
  }
}

// Where to go with no channel named: the one open last, else the first in the list.
export function defaultChannelId() {
  const map = channels.value;
  const last = localStorage.getItem(LAST_KEY + userId.value);
  if (last && map?.get(last)?.is_member) return last;
  const { named, direct } = sections(map, userId.value);
  return named[0]?.id ?? direct[0]?.id ?? null;
}

// Open a channel (null: none). `history`: "push" a new entry, "replace" the current one,
// or "none" (Back/Forward already moved it). `around`: a message to show it at (and focus,
// unless `focus` is false).
export async function showChannel(
  channelId,
  { history: how = "push", around = null, focus = true } = {},
) {
  let id = channelId;
  batch(() => {
    sidebarOpen.value = false;
    editingId.value = null;
  });
  if (id && !channels.value?.has(id)) {
    let found = null;
    try {
      found = await fetchChannel(id);
    } catch (error) {
      notice.value = { message: error.message };
    }
    if (!found) {
      if (!notice.value) notice.value = { message: "That conversation does not exist, or you cannot see it." };
      id = defaultChannelId();
      how = how === "none" ? "replace" : how;
    }
  }
  const admin = adminSection.value;
  const path = pathOf(id) + (admin ? `#/admin/${admin}` : "");
  if (how !== "none" && location.pathname + location.hash !== path) {
    window.history[how === "replace" ? "replaceState" : "pushState"]({ channelId: id }, "", path);
  }
  openChannelId.value = id;
  if (!id) return;
  if (channels.value?.get(id)?.is_member) localStorage.setItem(LAST_KEY + userId.value, id);
  if (around && id === channelId) openAround(id, around, { focus });
  else openTimeline(id);
}

export function titleFor(channel, me, appName) {
  const name = channel ? channelLabel(channel, me) : null;
  const unread = channel?.unread_count ? ` (${channel.unread_count})` : "";
  return [name && name + unread, appName || "nchat"].filter(Boolean).join(" · ");
}

export function canAdminister(role) {
  return ADMIN_ROLES.has(role);
}

// The admin section an address names ("overview" for /#/admin), or null.
export function adminRouteOf(url = location) {
  const found = ADMIN.exec(url.hash);
  return found ? (found[1] ?? "overview") : null;
}

// The admin pages as the address says: open (at its section) for owners and admins, closed
// otherwise; anyone else stays in the chat, told why (the server refuses them anyway).
// `entered`: the address changed while the chat was shown.
export function followAdminRoute({ entered = false } = {}) {
  const section = adminRouteOf();
  if (section !== null && !canAdminister(user.value?.role)) {
    window.history.replaceState(window.history.state, "", location.pathname);
    notice.value = { message: "The administration pages are for owners and admins only." };
  }
  if (section === null || !canAdminister(user.value?.role)) {
    adminSection.value = null;
    return;
  }
  if (adminSection.value === null) adminFromChat = entered;
  batch(() => {
    sidebarOpen.value = false;
    adminSection.value = section;
  });
}

// Another section, in place of the current one: Back still leads to the chat.
export function showAdminSection(section) {
  window.history.replaceState(window.history.state, "", `${location.pathname}#/admin/${section}`);
  adminSection.value = section;
}

export function closeAdmin() {
  if (adminFromChat) {
    adminFromChat = false;
    window.history.back(); // its hashchange closes them
    return;
  }
  window.history.replaceState(window.history.state, "", location.pathname);
  adminSection.value = null;
}

export function resetTokenOf(url = location) {
  return RESET.exec(url.hash)?.[1] ?? null;
}

// Done with a reset link: its address goes, and the app shows what fits (sign-in or chat).
export function leaveReset() {
  window.history.replaceState(null, "", "/");
  resetToken.value = null;
}

// A link's fragment is opened by its hashchange (which follows the popstate) and then
// replaced by the channel's path.
window.addEventListener("popstate", () => {
  if (!userId.value || LINK.test(location.hash) || adminRouteOf() !== null) return;
  showChannel(channelIdFromPath(), { history: "none" });
});
window.addEventListener("hashchange", () => {
  const token = resetTokenOf();
  if (token) resetToken.value = token;
  else if (userId.value && LINK.test(location.hash)) {
    adminSection.value = null;
    openRoute(routeOf(), "replace");
  } else if (userId.value) followAdminRoute({ entered: true });
});
