// Ctrl+K: jump to any channel or DM by typing part of its name; arrows choose, Enter opens.
// An ARIA combobox: focus stays in the input, the chosen option is its active descendant.
import { sections } from "../channels.js";
import { channelLabel, channelTitle } from "../format.js";
import { html, useState } from "../lib/html.js";
import { showChannel } from "../navigation.js";
import { channels, openChannelId, userId } from "../store.js";
import { closeDialog, Dialog } from "./dialog.js";

const SHOWN = 12;

function matches(channel, me, words) {
  const text = `${channelTitle(channel, me)} ${(channel.dm_members ?? []).map((m) => m.username).join(" ")}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

export function ChannelSwitcher() {
  const [q, setQ] = useState("");
  const [active, setActive] = useState(0);
  const me = userId.value;
  const { named, direct } = sections(channels.value, me);
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const all = [...named, ...direct].filter((c) => c.id !== openChannelId.value || words.length);
  // Unread ones first when nothing is typed yet: that is where people go.
  const ordered = words.length ? all : [...all].sort((a, b) => (b.unread_count ? 1 : 0) - (a.unread_count ? 1 : 0));
  const options = ordered.filter((c) => matches(c, me, words)).slice(0, SHOWN);
  const at = Math.min(active, Math.max(0, options.length - 1));

  function open(channel) {
    closeDialog();
    showChannel(channel.id);
  }

  function onKeyDown(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive((at + step + options.length) % Math.max(1, options.length));
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (options[at]) open(options[at]);
    }
  }

  const optionId = (channel) => `switch-${channel.id}`;
  return html`
    <${Dialog} title="Jump to a conversation" className="switcher">
      <label class="visually-hidden" for="switcher-q">Channel or person</label>
      <input
        id="switcher-q"
        type="text"
        role="combobox"
        autofocus
        autocomplete="off"
        placeholder="Channel or person"
        aria-expanded="true"
        aria-controls="switcher-options"
        aria-autocomplete="list"
        aria-activedescendant=${options[at] ? optionId(options[at]) : undefined}
        value=${q}
        onInput=${(e) => {
          setQ(e.currentTarget.value);
          setActive(0);
        }}
        onKeyDown=${onKeyDown}
      />
      <ul id="switcher-options" role="listbox" aria-label="Conversations" class="switcher-options">
        ${options.map(
          (channel, i) => html`<li
            key=${channel.id}
            id=${optionId(channel)}
            role="option"
            aria-selected=${i === at ? "true" : "false"}
            class=${i === at ? "active" : ""}
            onClick=${() => open(channel)}
          >
            <span class=${channel.unread_count ? "unread" : ""}>${channelLabel(channel, me)}</span>
            ${channel.unread_count > 0 && html`<span class="muted"> · ${channel.unread_count} unread</span>`}
          </li>`,
        )}
      </ul>
      ${options.length === 0 &&
      html`<p class="muted">${words.length ? `Nothing matches “${q}”.` : "No other conversation yet."}</p>`}
      <p class="hint">↑ ↓ to choose, Enter to open, Escape to close.</p>
    </${Dialog}>
  `;
}
