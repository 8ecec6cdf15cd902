// Which channel is open, said by the URL (/channels/<id>): opening one pushes a history
// entry, Back and Forward open what they name, a reload opens the same channel again.
import { fetchChannel, sections } from "./channels.js";
import { channelLabel } from "./format.js";
import { batch } from "./lib/html.js";
import { openAround, openTimeline } from "./timeline.js";
import { channels, editingId, notice, openChannelId, sidebarOpen, userId } from "./store.js";

const PATH = /^\/channels\/([0-9a-f-]{36})\/?$/i;
const LAST_KEY = "nchat.last_channel.";

export function channelIdFromPath(path = location.pathname) {
  return PATH.exec(path)?.[1]?.toLowerCase() ?? null;
}

export function pathOf(channelId) {
  return channelId ? `/channels/${channelId}` : "/";
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
  const path = pathOf(id);
  if (how !== "none" && location.pathname !== path) {
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

window.addEventListener("popstate", () => {
  if (userId.value) showChannel(channelIdFromPath(), { history: "none" });
});
