// The pinned messages of the open channel and the user's saved messages, as side panels,
// and the channel header's buttons that open them. "Jump" shows the message in its
// channel (the window around it, pointed out); a reply opens its thread instead. On screens
// where the panel covers the conversation, jumping closes the panel.
import { channelLabel, fullTime, plural, timeOf } from "../format.js";
import { html, useEffect } from "../lib/html.js";
import { showChannel } from "../navigation.js";
import { channels, notice, openChannelId, panel, panelList, user } from "../store.js";
import {
  canPin,
  closeList,
  knowSaved,
  loadMoreSaved,
  setPin,
  setSaved,
  showPins,
  showSaved,
} from "../threads.js";
import { openAround } from "../timeline.js";
import { MessageBody } from "./message-body.js";
import { closePanel, openPanel, PanelFrame } from "./side-panel.js";
import { Icon } from "./icons.js";

function jumpTo(message) {
  if (message.thread_id) {
    openPanel("thread", { rootId: message.thread_id });
    return;
  }
  const covered = !window.matchMedia("(min-width: 64rem)").matches;
  if (message.channel_id === openChannelId.value) openAround(message.channel_id, message.id);
  else showChannel(message.channel_id, { around: message.id });
  if (covered) closePanel();
}

async function attempt(what, action) {
  try {
    await action();
  } catch (error) {
    notice.value = { message: `${what}: ${error.message}` };
  }
}

function Entry({ message, me, showWhere, remove }) {
  const at = message.created_at;
  const channel = channels.value?.get(message.channel_id);
  const where = channel ? channelLabel(channel, me.id) : "a conversation";
  const whose = message.user.id === me.id ? "your" : `${message.user.name}’s`;
  return html`<li class="panel-entry">
    <p class="message-meta">
      <span class="author">${message.user.name}</span>
      ${showWhere && html`<span class="muted entry-where">in ${where}</span>`}
      <time datetime=${at} title=${fullTime(at)}>${timeOf(at)}</time>
    </p>
    <${MessageBody} message=${message} />
    ${message.files?.length > 0 && html`<p class="muted">${plural(message.files.length, "file")}</p>`}
    <div class="entry-actions">
      <button type="button" class="secondary small" aria-label=${`Jump to ${whose} message at ${timeOf(at)}`}
        onClick=${() => jumpTo(message)}>
        ${message.thread_id ? "Open thread" : "Jump"}
      </button>
      ${remove &&
      html`<button type="button" class="secondary small" aria-label=${`${remove.label}: ${whose} message at ${timeOf(at)}`}
        onClick=${() => attempt(`${remove.label} failed`, () => remove.run(message))}>
        ${remove.label}
      </button>`}
    </div>
  </li>`;
}

function Entries({ list, me, showWhere, remove, empty }) {
  if (!list) return null;
  return html`
    ${list.error &&
    html`<div class="load-error" role="alert"><p>The messages could not be loaded: ${list.error}</p></div>`}
    ${list.loading === "initial" && !list.messages.length &&
    html`<p class="muted panel-status" role="status">Loading…</p>`}
    ${!list.loading && !list.error && !list.messages.length && html`<p class="muted panel-status">${empty}</p>`}
    ${list.messages.length > 0 &&
    html`<ul class="panel-entries">
      ${list.messages.map(
        (m) => html`<${Entry} key=${m.id} message=${m} me=${me} showWhere=${showWhere} remove=${remove} />`,
      )}
    </ul>`}
  `;
}

export function PinsPanel() {
  const channelId = openChannelId.value;
  useEffect(() => {
    if (channelId) showPins(channelId);
    return () => closeList("pins");
  }, [channelId]);
  const me = user.value;
  const list = panelList.value?.kind === "pins" ? panelList.value : null;
  const channel = channels.value?.get(channelId);
  const mayUnpin = canPin(me.role) && channel?.is_member && !channel.archived;
  const unpin = mayUnpin ? { label: "Unpin", run: (m) => setPin(m, false) } : null;
  return html`
    <${PanelFrame} title="Pinned messages" className="list-panel">
      <${Entries}
        list=${list}
        me=${me}
        showWhere=${false}
        remove=${unpin}
        empty="Nothing is pinned here yet. Pin a message from its menu to keep it at hand."
      />
    </${PanelFrame}>
  `;
}

export function SavedPanel() {
  useEffect(() => {
    showSaved();
    return () => closeList("saved");
  }, []);
  const me = user.value;
  const list = panelList.value?.kind === "saved" ? panelList.value : null;
  const remove = { label: "Remove", run: (m) => setSaved(m, false) };
  return html`
    <${PanelFrame} title="Saved messages" className="list-panel">
      <${Entries}
        list=${list}
        me=${me}
        showWhere=${true}
        remove=${remove}
        empty="No saved messages. Save one from its menu to find it here."
      />
      ${list?.hasMore &&
      html`<p class="panel-more">
        <button type="button" class="secondary small" disabled=${list.loading === "more"} onClick=${loadMoreSaved}>
          ${list.loading === "more" ? "Loading…" : "Load more"}
        </button>
      </p>`}
    </${PanelFrame}>
  `;
}

// The channel header's "Pinned messages" and "Saved messages" buttons; each closes its
// panel again.
export function PanelButtons() {
  useEffect(() => {
    knowSaved();
  }, [user.value?.id]);
  const kind = panel.value?.kind;
  const button = (name, label, icon) => html`<button
    type="button"
    class="icon-button panel-button"
    aria-label=${label}
    title=${label}
    aria-pressed=${kind === name ? "true" : "false"}
    onClick=${() => (kind === name ? closePanel() : openPanel(name))}
  >
    <${Icon} name=${icon} />
  </button>`;
  return html`${button("pins", "Pinned messages", "pin")}${button("saved", "Saved messages", "bookmark")}`;
}
