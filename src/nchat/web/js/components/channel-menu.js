// The open conversation's menu in its header: mute it, and (channels) how much of it
// notifies: as the user's own setting says, every message, mentions, or nothing. A muted
// conversation notifies of nothing, mentions included; the channel list marks it.
import { changePrefs, prefsOf } from "../channels.js";
import { isDirect } from "../format.js";
import { html } from "../lib/html.js";
import { notice } from "../store.js";
import { MenuButton } from "./menu.js";

const LEVELS = [
  ["default", "Notify as in my settings"],
  ["all", "Notify about every message"],
  ["mentions", "Notify about mentions"],
  ["nothing", "Notify about nothing"],
];

export function ChannelMenu({ channel }) {
  const prefs = prefsOf(channel.id);
  const direct = isDirect(channel);
  const what = direct ? "conversation" : "channel";

  async function change(changes) {
    try {
      await changePrefs(channel.id, changes);
    } catch (error) {
      notice.value = { message: `The ${what}'s notifications could not be changed: ${error.message}` };
    }
  }

  const items = [
    { label: prefs.muted ? `Unmute ${what}` : `Mute ${what}`, onSelect: () => change({ muted: !prefs.muted }) },
    // In a DM every message is addressed to the user: the level changes nothing there.
    ...(direct
      ? []
      : LEVELS.map(([level, label]) => ({
          label,
          checked: prefs.level === level,
          onSelect: () => change({ level }),
        }))),
  ];
  const label = `${direct ? "Conversation" : "Channel"} options${prefs.muted ? " (muted)" : ""}`;
  return html`<${MenuButton} label=${label} items=${items} className="channel-menu" />`;
}
