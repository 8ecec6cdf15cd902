// One message of the list: author and time (once for a run of one author's messages), the
// body, "edited", the deleted placeholder, reactions, the thread summary, and the menu of
// what the user may do with it. Rendered again only when its props change.
import { ApiError } from "../api.js";
import { fullTime, plural, timeOf } from "../format.js";
import { Component, html, useEffect, useRef, useState } from "../lib/html.js";
import { deleteMessage, editMessage } from "../timeline.js";
import { dialog, editingId, notice } from "../store.js";
import { Avatar } from "./avatar.js";
import { MenuButton } from "./menu.js";
import { MessageBody } from "./message-body.js";

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
        await deleteMessage(message);
      } catch (error) {
        notice.value = { message: `The message was not deleted: ${error.message}` };
      }
    },
  };
}

function Reactions({ reactions }) {
  if (!reactions?.length) return null;
  return html`<ul class="reactions" aria-label="Reactions">
    ${reactions.map(
      (r) => html`<li key=${r.emoji} class=${r.me ? "reaction mine" : "reaction"}>
        <span aria-hidden="true">${r.emoji}</span>
        <span class="visually-hidden">${r.emoji}:</span> ${r.count}
        ${r.me ? html`<span class="visually-hidden">, including you</span>` : null}
      </li>`,
    )}
  </ul>`;
}

function ThreadSummary({ message }) {
  if (!message.reply_count) return null;
  // The thread panel comes later; the count and the time say a conversation goes on there.
  return html`<p class="thread-summary">
    ${plural(message.reply_count, "reply", "replies")}
    ${message.last_reply_at &&
    html`<span class="muted"> · last <time datetime=${message.last_reply_at}>${timeOf(message.last_reply_at)}</time></span>`}
  </p>`;
}

function MessageEditor({ message }) {
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
    focusComposer();
  }

  async function save() {
    if (busy) return;
    if (!text.trim() || text === message.text) return done();
    setBusy(true);
    try {
      await editMessage(message, text);
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

function Message({ message, grouped, mine, canDelete, editing }) {
  const deleted = Boolean(message.deleted_at);
  const at = message.created_at;
  const actions = [];
  if (mine && !deleted) actions.push({ label: "Edit", onSelect: () => (editingId.value = message.id) });
  if (canDelete && !deleted) actions.push({ label: "Delete", danger: true, onSelect: () => confirmDelete(message) });
  const classes = ["message", grouped && "grouped", mine && "mine", editing && "editing", deleted && "deleted"];
  return html`
    <li class=${classes.filter(Boolean).join(" ")} data-key=${message.id}>
      <div class="gutter">
        ${grouped
          ? html`<time class="hover-time" datetime=${at} title=${fullTime(at)}>${timeOf(at)}</time>`
          : html`<${Avatar} person=${message.user} />`}
      </div>
      <div class="message-main">
        ${grouped
          ? html`<span class="visually-hidden">${message.user.name}, </span>`
          : html`<p class="message-meta">
              <span class="author">${message.user.name}</span>
              <time datetime=${at} title=${fullTime(at)}>${timeOf(at)}</time>
            </p>`}
        ${deleted
          ? html`<p class="deleted-note">This message was deleted.</p>`
          : editing
            ? html`<${MessageEditor} message=${message} />`
            : html`<${MessageBody} message=${message} />`}
        ${message.edited_at && !deleted && !editing &&
        html`<span class="edited" title=${`Edited ${fullTime(message.edited_at)}`}>(edited)</span>`}
        ${!deleted && html`<${Reactions} reactions=${message.reactions} />`}
        <${ThreadSummary} message=${message} />
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
