// One message of the list: author and time (once for a run of one author's messages), the
// body, "edited" (which opens the edit history), the deleted placeholder, the pinned
// marker, reactions (press one to add or take back yours), the thread summary (which opens
// the thread), and the menu of what the user may do with it. Rendered again only when its
// props change. `inThread`: shown in the thread panel, where it has no thread of its own.
import { ApiError } from "../api.js";
import { fullTime, plural, timeOf } from "../format.js";
import { Component, html, useEffect, useRef, useState } from "../lib/html.js";
import {
  canPin,
  deleteEverywhere,
  editEverywhere,
  isSaved,
  setPin,
  setSaved,
  toggleReaction,
} from "../threads.js";
import { copyLink } from "../navigation.js";
import { channels, dialog, editingId, notice, user } from "../store.js";
import { Avatar } from "./avatar.js";
import { openPanel } from "./side-panel.js";
import { MenuButton } from "./menu.js";
import { MessageBody } from "./message-body.js";
import { MessageFiles } from "./message-files.js";
import { Icon } from "./icons.js";

export function focusComposer() {
  document.getElementById("composer-input")?.focus();
}

function confirmDelete(message) {
  dialog.value = {
    kind: "confirm",
    title: "Delete message?",
    body: message.text ? `“${message.text.slice(0, 200)}” will be deleted for everyone.` : "It will be deleted for everyone.",
    confirmLabel: "Delete",
    danger: true,
    onConfirm: async () => {
      try {
        await deleteEverywhere(message);
      } catch (error) {
        notice.value = { message: `The message was not deleted: ${error.message}` };
      }
    },
  };
}

// What failed is said in the page's notice; the message stays as the server has it.
async function attempt(what, action) {
  try {
    await action();
  } catch (error) {
    notice.value = { message: `${what}: ${error.message}` };
  }
}

function chipLabel(r, canReact) {
  const count = `${r.emoji} ${plural(r.count, "reaction")}`;
  if (!canReact) return r.me ? `${count}, including you` : count;
  return r.me ? `${count}, including you; press to remove yours` : `${count}; press to add yours`;
}

function pickReaction(message) {
  dialog.value = { kind: "reaction", messageId: message.id };
}

function Reactions({ message, canReact }) {
  const reactions = message.reactions;
  if (!reactions?.length) return null;
  const toggle = (emoji) => attempt("The reaction was not changed", () => toggleReaction(message, emoji));
  return html`<ul class="reactions" aria-label="Reactions">
    ${reactions.map(
      (r) => html`<li key=${r.emoji}>
        <button type="button" class=${r.me ? "reaction mine" : "reaction"} aria-label=${chipLabel(r, canReact)}
          disabled=${!canReact} onClick=${() => toggle(r.emoji)}>
          <span aria-hidden="true">${r.emoji} ${r.count}</span>
        </button>
      </li>`,
    )}
    ${canReact &&
    html`<li key="add">
      <button type="button" class="reaction add-reaction" aria-label="Add reaction" title="Add reaction"
        onClick=${() => pickReaction(message)}><span aria-hidden="true">☺+</span></button>
    </li>`}
  </ul>`;
}

function ThreadSummary({ message }) {
  if (!message.reply_count) return null;
  return html`<button type="button" class="thread-summary" onClick=${() => openPanel("thread", { rootId: message.id, root: message })}>
    ${plural(message.reply_count, "reply", "replies")}
    ${message.last_reply_at &&
    html`<span class="muted"> · last <time datetime=${message.last_reply_at}>${timeOf(message.last_reply_at)}</time></span>`}
    <span class="visually-hidden">: open the thread</span>
  </button>`;
}

function MessageEditor({ message, inThread }) {
  const [text, setText] = useState(message.text ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const area = useRef(null);

  useEffect(() => {
    const el = area.current;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);

  function done() {
    editingId.value = null;
    if (inThread) document.getElementById("thread-input")?.focus();
    else focusComposer();
  }

  async function save() {
    if (busy) return;
    if (!text.trim() || text === message.text) return done();
    setBusy(true);
    try {
      await editEverywhere(message, text);
      done();
    } catch (caught) {
      setBusy(false);
      setError(caught instanceof ApiError ? caught.message : String(caught));
    }
  }

  function onKeyDown(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      done();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      save();
    }
  }

  return html`<form class="editor" onSubmit=${(e) => (e.preventDefault(), save())}>
    <label class="visually-hidden" for=${`edit-${message.id}`}>Edit message</label>
    <textarea
      id=${`edit-${message.id}`}
      ref=${area}
      value=${text}
      rows="1"
      onInput=${(e) => setText(e.currentTarget.value)}
      onKeyDown=${onKeyDown}
      aria-invalid=${error ? "true" : undefined}
      disabled=${busy}
    ></textarea>
    ${error && html`<p class="field-error" role="alert">${error}</p>`}
    <div class="editor-actions">
      <span class="muted hint">Enter to save, Escape to cancel</span>
      <button type="button" class="secondary small" onClick=${done}>Cancel</button>
      <button type="submit" class="small" disabled=${busy}>${busy ? "Saving…" : "Save"}</button>
    </div>
  </form>`;
}

// The menu's items. Membership and role are read without subscribing (they seldom change,
// and a message re-renders with its next change); whether it is saved is subscribed.
function actionsFor(message, { mine, canDelete, inThread, canReact }) {
  if (message.deleted_at) return [];
  const actions = [];
  if (canReact && !inThread && !message.thread_id) {
    const reply = () => openPanel("thread", { rootId: message.id, root: message, replying: true });
    actions.push({ label: "Reply in thread", onSelect: reply });
  }
  if (canReact) actions.push({ label: "Add reaction", onSelect: () => pickReaction(message) });
  if (canReact && canPin(user.peek()?.role)) {
    const pin = !message.pinned;
    const label = pin ? "Pin" : "Unpin";
    actions.push({ label, onSelect: () => attempt(`${label} failed`, () => setPin(message, pin)) });
  }
  const saved = isSaved(message.id);
  if (canReact || saved) {
    const label = saved ? "Remove from saved" : "Save";
    actions.push({ label, onSelect: () => attempt(`${label} failed`, () => setSaved(message, !saved)) });
  }
  actions.push({ label: "Copy link", onSelect: () => copyLink(message) });
  const editKey = inThread ? `${message.id}@thread` : message.id;
  if (mine) actions.push({ label: "Edit", onSelect: () => (editingId.value = editKey) });
  if (canDelete) actions.push({ label: "Delete", danger: true, onSelect: () => confirmDelete(message) });
  return actions;
}

function Message({ message, grouped, mine, canDelete, editing, inThread = false }) {
  const deleted = Boolean(message.deleted_at);
  const at = message.created_at;
  const channel = channels.peek()?.get(message.channel_id);
  const canReact = Boolean(channel?.is_member) && !channel.archived;
  const actions = actionsFor(message, { mine, canDelete, inThread, canReact });
  const classes = ["message", grouped && "grouped", mine && "mine", editing && "editing", deleted && "deleted"];
  return html`
    <li class=${classes.filter(Boolean).join(" ")} data-key=${message.id}>
      <div class="gutter">
        ${grouped
          ? html`<time class="hover-time" datetime=${at} title=${fullTime(at)}>${timeOf(at)}</time>`
          : html`<${Avatar} person=${message.user} />`}
      </div>
      <div class="message-main">
        ${message.pinned && !deleted && html`<p class="pinned-note"><${Icon} name="pin" />Pinned</p>`}
        ${grouped
          ? html`<span class="visually-hidden">${message.user.name}, </span>`
          : html`<p class="message-meta">
              <span class="author">${message.user.name}</span>
              <time datetime=${at} title=${fullTime(at)}>${timeOf(at)}</time>
            </p>`}
        ${deleted
          ? html`<p class="deleted-note">This message was deleted.</p>`
          : editing
            ? html`<${MessageEditor} message=${message} inThread=${inThread} />`
            : html`<${MessageBody} message=${message} />`}
        ${!deleted && message.files?.length > 0 && html`<${MessageFiles} files=${message.files} />`}
        ${message.edited_at && !deleted && !editing &&
        html`<button type="button" class="edited" title=${`Edited ${fullTime(message.edited_at)}`}
          onClick=${() => (dialog.value = { kind: "history", messageId: message.id })}>
          (edited)<span class="visually-hidden">: show the earlier versions</span>
        </button>`}
        ${!deleted && html`<${Reactions} message=${message} canReact=${canReact} />`}
        ${!inThread && html`<${ThreadSummary} message=${message} />`}
      </div>
      ${actions.length > 0 && !editing &&
      html`<${MenuButton}
        className="message-actions"
        label=${`Actions for ${mine ? "your" : `${message.user.name}’s`} message at ${timeOf(at)}`}
        items=${actions}
      />`}
    </li>
  `;
}

// Re-rendered only when one of its props changed: a list of 300 redraws the one that did.
export class MessageItem extends Component {
  shouldComponentUpdate(next) {
    for (const key in next) if (next[key] !== this.props[key]) return true;
    return false;
  }

  render(props) {
    return html`<${Message} ...${props} />`;
  }
}
