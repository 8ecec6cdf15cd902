// Writing a message: Enter sends, Shift+Enter starts a new line, Up in an empty composer
// edits the user's last message. The draft is kept per channel; a send shows at once and
// is confirmed by the server (outbox.js); typing is signalled to the others. `@`, `#` and
// `:` offer completions (autocomplete.js).
import { loadDraft, saveDraft } from "../drafts.js";
import { html, useEffect, useRef, useState } from "../lib/html.js";
import { send } from "../outbox.js";
import { editingId } from "../store.js";
import { jumpToLatest, lastOwnMessage } from "../timeline.js";
import { doneTyping, notifyTyping } from "../typing.js";
import { takeReady } from "../uploads.js";
import { attachmentState, Attachments } from "./attachments.js";
import { CompletionList, useCompletion } from "./autocomplete.js";

const MAX_TEXT = 40000;

export function Composer({ channel, label }) {
  const [text, setText] = useState(() => loadDraft(channel.id));
  const area = useRef(null);
  const hintId = `composer-hint-${channel.id}`;
  const completion = useCompletion({ channel, text, change, area });

  useEffect(() => {
    if (document.querySelector("dialog[open]")) return;
    if (window.matchMedia("(min-width: 48rem)").matches) {
      // On a wide screen the composer is where typing goes when a channel opens.
      area.current?.focus({ preventScroll: true });
    } else if (document.getElementById("sidebar")?.contains(document.activeElement)) {
      // On a narrow one the list just closed over the focus: the channel's name takes it.
      document.getElementById("channel-title")?.focus({ preventScroll: true });
    }
  }, [channel.id]);

  function change(value) {
    setText(value);
    saveDraft(channel.id, value);
    if (value.trim()) notifyTyping(channel.id);
  }

  function submit() {
    const body = text.trim() ? text.replace(/\s+$/, "") : "";
    const files = attachmentState(channel.id);
    if ((!body && !files.ready) || body.length > MAX_TEXT || files.uploading) return;
    jumpToLatest(channel.id);
    send(channel.id, body, takeReady(channel.id));
    doneTyping(channel.id);
    change("");
  }

  function onKeyDown(event) {
    if (completion.onKeyDown(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "ArrowUp" && !text && !event.shiftKey) {
      const last = lastOwnMessage(channel.id);
      if (last) {
        event.preventDefault();
        editingId.value = last.id;
      }
    }
  }

  const tooLong = text.length > MAX_TEXT;
  const files = attachmentState(channel.id);
  return html`
    <form class="composer" onSubmit=${(event) => (event.preventDefault(), submit())}>
      <label class="visually-hidden" for="composer-input">${label}</label>
      <textarea
        id="composer-input"
        ref=${area}
        rows="1"
        placeholder=${label}
        value=${text}
        aria-describedby=${hintId}
        aria-invalid=${tooLong ? "true" : undefined}
        onInput=${(event) => change(event.currentTarget.value)}
        onKeyDown=${onKeyDown}
        ...${completion.inputProps}
      ></textarea>
      <${CompletionList} completion=${completion} />
      <${Attachments} channelId=${channel.id} />
      <button type="submit" class="send" disabled=${(!text.trim() && !files.ready) || tooLong || files.uploading}>
        Send
      </button>
      <p id=${hintId} class=${tooLong ? "field-error composer-hint" : "visually-hidden"}>
        ${tooLong
          ? `At most ${MAX_TEXT.toLocaleString()} characters (${text.length.toLocaleString()} now).`
          : "Enter sends, Shift+Enter adds a line, Up edits your last message."}
      </p>
    </form>
  `;
}
