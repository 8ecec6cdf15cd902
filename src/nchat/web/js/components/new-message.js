// Start a DM (one person) or a group DM (up to seven others): find people by name, pick
// them, and open the conversation (the server finds the existing one if there is).
import { openDirect } from "../channels.js";
import { html, useState } from "../lib/html.js";
import { showChannel } from "../navigation.js";
import { searchPeople } from "../people.js";
import { userId } from "../store.js";
import { Avatar } from "./avatar.js";
import { closeDialog, Dialog } from "./dialog.js";
import { useSearch } from "./use-search.js";

const MAX_OTHERS = 7;

export function NewMessageDialog() {
  const [q, setQ] = useState("");
  const [found, setFound] = useState(null);
  const [picked, setPicked] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const others = (list) => list.filter((u) => u.id !== userId.value);
  useSearch(q, async (text) => others(await searchPeople(text)), setFound, setError);

  function toggle(person) {
    setPicked((list) =>
      list.some((p) => p.id === person.id)
        ? list.filter((p) => p.id !== person.id)
        : list.length >= MAX_OTHERS
          ? list
          : [...list, person],
    );
  }

  async function start(event) {
    event.preventDefault();
    if (!picked.length || busy) return;
    setBusy(true);
    try {
      const channel = await openDirect(picked.map((p) => p.id));
      closeDialog();
      showChannel(channel.id);
    } catch (caught) {
      setBusy(false);
      setError(caught.message);
    }
  }

  const pickedIds = new Set(picked.map((p) => p.id));
  return html`
    <${Dialog} title="New message" className="direct">
      <form onSubmit=${start}>
        ${picked.length > 0 &&
        html`<ul class="chips" aria-label="To">
          ${picked.map(
            (p) => html`<li key=${p.id} class="chip">
              ${p.name}
              <button type="button" class="chip-remove" aria-label=${`Remove ${p.name}`} onClick=${() => toggle(p)}>×</button>
            </li>`,
          )}
        </ul>`}
        <div class="field">
          <label for="direct-q">Find people</label>
          <input id="direct-q" type="search" autofocus autocomplete="off" value=${q}
            aria-describedby="direct-hint" onInput=${(e) => setQ(e.currentTarget.value)} />
          <p class="hint" id="direct-hint">One person for a direct message, up to ${MAX_OTHERS} for a group.</p>
        </div>
        ${error && html`<p class="form-error" role="alert">${error}</p>`}
        <div class="dialog-list" aria-busy=${found === null ? "true" : "false"}>
          ${found === null
            ? html`<p class="muted">Loading…</p>`
            : found.length === 0
              ? html`<p class="muted">Nobody matches “${q}”.</p>`
              : html`<ul class="people-results">
                  ${found.map((person) => {
                    const on = pickedIds.has(person.id);
                    return html`<li key=${person.id}>
                      <button type="button" class=${on ? "person picked" : "person"} aria-pressed=${on ? "true" : "false"}
                        onClick=${() => toggle(person)}>
                        <${Avatar} person=${person} size="small" />
                        <span class="result-name">${person.name}</span>
                        <span class="muted">@${person.username}</span>
                      </button>
                    </li>`;
                  })}
                </ul>`}
        </div>
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick=${closeDialog}>Cancel</button>
          <button type="submit" disabled=${!picked.length || busy}>
            ${busy ? "Opening…" : picked.length > 1 ? "Start group conversation" : "Start conversation"}
          </button>
        </div>
      </form>
    </${Dialog}>
  `;
}
