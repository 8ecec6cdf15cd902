// What the user had written in each channel's composer, kept across channel switches and
// reloads (localStorage, per user and channel).
import { userId } from "./store.js";

const PREFIX = "nchat.draft.";

function key(channelId) {
  return `${PREFIX}${userId.value}.${channelId}`;
}

export function loadDraft(channelId) {
  return localStorage.getItem(key(channelId)) ?? "";
}

export function saveDraft(channelId, text) {
  try {
    if (text.trim()) localStorage.setItem(key(channelId), text);
    else localStorage.removeItem(key(channelId));
  } catch {
    // Storage full or refused: the draft lives as long as the page.
  }
}
