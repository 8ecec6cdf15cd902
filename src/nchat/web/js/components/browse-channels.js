// The public channels, filtered by name as one types: join one, or open one already joined.
import { browsePublic, joinChannel } from "../channels.js";
import { plural } from "../format.js";
import { html, useState } from "../lib/html.js";
import { showChannel } from "../navigation.js";
import { dialog } from "../store.js";
import { closeDialog, Dialog } from "./dialog.js";
import { useSearch } from "./use-search.js";

export function BrowseChannelsDialog() {
  const [q, setQ] = useState("");
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  const [joining, setJoining] = useState(null);

  useSearch(q, browsePublic, setFound, setError);

  async function open(channel) {
    try {
      if (!channel.is_member) {
        setJoining(channel.id);
        await joinChannel(channel.id);
      }
      closeDialog();
      showChannel(channel.id);
    } catch (caught) {
      setJoining(null);
      setError(caught.message);
    }
  }

  return html`
    <${Dialog} title="Browse channels" className="browse">
      <div class="field">
        <label for="browse-q">Find a channel</label>
        <input id="browse-q" type="search" autofocus autocomplete="off" value=${q}
          onInput=${(e) => setQ(e.currentTarget.value)} />
      </div>
      ${error && html`<p class="form-error" role="alert">${error}</p>`}
      <div class="dialog-list" aria-busy=${found === null ? "true" : "false"}>
        ${found === null
          ? html`<p class="muted">Loading…</p>`
          : found.length === 0
            ? html`<p class="muted">${q ? `No public channel matches “${q}”.` : "There are no public channels yet."}</p>`
            : html`<ul class="channel-results">
                ${found.map(
                  (c) => html`<li key=${c.id}>
                    <div class="result-text">
                      <span class="result-name">#${c.name}</span>
                      <span class="muted">${plural(c.member_count, "member")}${c.topic ? ` · ${c.topic}` : ""}</span>
                    </div>
                    <button type="button" class=${c.is_member ? "secondary small" : "small"}
                      aria-label=${`${c.is_member ? "Open" : "Join"} #${c.name}`}
                      disabled=${joining === c.id} onClick=${() => open(c)}>
                      ${c.is_member ? "Open" : joining === c.id ? "Joining…" : "Join"}
                    </button>
                  </li>`,
                )}
              </ul>`}
      </div>
      <div class="dialog-actions">
        <button type="button" class="secondary" onClick=${() => (dialog.value = { kind: "create" })}>
          Create a channel
        </button>
      </div>
    </${Dialog}>
  `;
}
