// What each event of the socket changes (README, "Realtime and offline sync"). Every
// change here is safe to apply twice: messages by id, counts guarded by the channel's
// newest time (channels.js countIncoming), so an event that the first load already saw
// changes nothing.
import {
  countIncoming,
  dropChannel,
  fetchChannel,
  patchChannel,
  readElsewhere,
  refreshSoon,
  setPrefs,
} from "./channels.js";
import { learn } from "./people.js";
import { confirm } from "./outbox.js";
import { defaultChannelId, showChannel } from "./navigation.js";
import {
  isReading,
  removeMessage,
  replaceMessage,
  setPinned,
  setReaction,
} from "./timeline.js";
import { applyToPanels } from "./threads.js";
import { stoppedTyping } from "./typing.js";
import { request } from "./api.js";
import { applyConfig } from "./theme.js";
import {
  announcement,
  appConfig,
  channels,
  notice,
  openChannelId,
  panel,
  user,
  userId,
} from "./store.js";

const CHANNEL_FIELDS = [
  "type",
  "name",
  "topic",
  "description",
  "read_only",
  "archived",
  "archived_at",
  "created_by",
  "created_at",
  "member_count",
];

// Views that keep lists of their own (search results, a channel's files): each event is
// theirs too.
const listeners = new Set();

export function listen(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function channelFields(info) {
  const fields = {};
  for (const name of CHANNEL_FIELDS) if (name in info) fields[name] = info[name];
  return fields;
}

export function applyEvent(event) {
  const data = event.data ?? {};
  const me = userId.value;
  applyToPanels(event);
  for (const fn of listeners) fn(event);
  switch (event.type) {
    case "message.created":
      return created(data, me);
    case "message.updated":
      return replaceMessage(data, { fromEvent: true });
    case "message.deleted":
      removeMessage(event.channel_id, data.message_id, { hard: data.hard, at: event.created_at });
      if (!data.thread_id && !isReading(event.channel_id)) refreshSoon(event.channel_id);
      return;
    case "reaction.added":
    case "reaction.removed":
      return setReaction(event.channel_id, data, event.type === "reaction.added");
    case "message.pinned":
    case "message.unpinned":
      return setPinned(event.channel_id, data.message_id, event.type === "message.pinned");
    case "channel.created":
      if (!channels.value?.has(data.id)) fetchChannel(data.id).catch(() => {});
      return;
    case "channel.updated":
    case "channel.archived":
      return patchChannel(data.id, channelFields(data));
    case "channel.deleted":
      return deleted(data);
    case "member.joined":
      if (data.user_id === me) fetchChannel(data.channel_id).catch(() => {});
      else if (data.channel) patchChannel(data.channel_id, { member_count: data.channel.member_count });
      return;
    case "member.left":
      return left(data, me);
    case "member.updated":
      if (data.user_id === me) patchChannel(data.channel_id, { channel_role: data.role });
      return;
    case "read.updated":
      return readElsewhere(data);
    case "channel_notification_preferences.updated":
      return setPrefs(data); // muted or not, on another device: the list follows
    case "user.updated":
      return userUpdated(data, me);
    case "config.updated":
      return configUpdated();
    default:
      return undefined; // a newer server's event: nothing to do with it here
  }
}

// The workspace's configuration changed: read it anew (the event carries its public part,
// but one reader of GET /api/config keeps every client on the same shape). The admin
// settings call it after a change too, so their own tab shows it without the event.
export async function configUpdated() {
  let config;
  try {
    config = await request("/api/config");
  } catch {
    return; // the next start reads it
  }
  applyConfig(config);
  appConfig.value = config;
  if (config.search === false && panel.value?.kind === "search") panel.value = null;
}

function created(message, me) {
  stoppedTyping(message.thread_id ?? message.channel_id, message.user.id);
  if (message.thread_id) {
    confirm(message); // to the open thread; the root's message.updated brings the reply count
    return;
  }
  if (!isReading(message.channel_id)) countIncoming(message);
  confirm(message);
  if (message.channel_id === openChannelId.value && message.user.id !== me) {
    announcement.value = `${message.user.name}: ${message.text ?? ""}`;
  }
}

function left(data, me) {
  if (data.user_id !== me) {
    if (data.channel) patchChannel(data.channel_id, { member_count: data.channel.member_count });
    return;
  }
  const channel = channels.value?.get(data.channel_id);
  const wasOpen = openChannelId.value === data.channel_id;
  if (channel && channel.type === "public" && wasOpen) {
    // Still readable: keep it open, as a channel one could join again.
    patchChannel(data.channel_id, { is_member: false, unread_count: null, mention_count: null });
    return;
  }
  dropChannel(data.channel_id);
  if (wasOpen) {
    notice.value = { message: `You are no longer in ${channel?.name ? `#${channel.name}` : "that conversation"}.` };
    showChannel(defaultChannelId(), { history: "replace" });
  }
}

// An admin deleted the channel for good (the member.left that follows finds it gone).
function deleted(data) {
  const wasOpen = openChannelId.value === data.id;
  dropChannel(data.id);
  if (!wasOpen) return;
  panel.value = null;
  notice.value = { message: `${data.name ? `#${data.name}` : "This conversation"} was deleted.` };
  showChannel(defaultChannelId(), { history: "replace" });
}

function userUpdated(person, me) {
  learn([person]);
  if (person.id === me && user.value) user.value = { ...user.value, ...person };
  // DMs name their people: the new name shows in the list at once.
  for (const channel of channels.value?.values() ?? []) {
    if (channel.dm_members?.some((m) => m.id === person.id)) {
      patchChannel(channel.id, {
        dm_members: channel.dm_members.map((m) =>
          m.id === person.id ? { ...m, name: person.name, username: person.username } : m,
        ),
      });
    }
  }
}
