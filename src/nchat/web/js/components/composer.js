// Writing a message, in the channel or (with `threadId`) as a reply in the thread panel:
// Enter sends, Shift+Enter starts a new line, Up in an empty composer edits the user's last
// message (reply). The draft and the files picked are kept per channel (per thread); a send
// shows at once and is confirmed by the server (outbox.js); typing is signalled to the
// others, for the channel or the thread. `@`, `#` and `:` offer completions
// (autocomplete.js).
import { loadDraft, saveDraft } from "../drafts.js";
import { html, useEffect, useRef, useState } from "../lib/html.js";
import { send } from "../outbox.js";
import { editingId, writesPaused } from "../store.js";
import { lastOwnReply } from "../threads.js";
import { jumpToLatest, lastOwnMessage } from "../timeline.js";
import { doneTyping, notifyTyping } from "../typing.js";
import { takeReady } from "../uploads.js";
import { attachmentState, Attachments } from "./attachments.js";
import { CompletionList, useCompletion } from "./autocomplete.js";
import { PausedNote } from "./maintenance-banner.js";

const MAX_TEXT = 40000;

export function Composer({ channel, label, threadId = null, autofocus = true }) {
  // What the draft and the files are kept under.
  const place = threadId ? `thread-${threadId}` : channel.id;
  const [text, setText] = useState(() => loadDraft(place));
  const area = useRef(null);
  const hintId = `composer-hint-${place}`;
  const completion = useCompletion({ channel, text, change, area });

  useEffect(() => {
    if (threadId) {
      if (autofocus) area.current?.focus({ preventScroll: true });
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    if (window.matchMedia("(min-width: 48rem)").matches) {
      // On a wide screen the composer is where typing goes when a channel opens.
      area.current?.focus({ preventScroll: true });
    } else if (document.getElementById("sidebar")?.contains(document.activeElement)) {
      // On a narrow one the list just closed over the focus: the channel's name takes it.
      document.getElementById("channel-title")?.focus({ preventScroll: true });
    }
  }, [place]);

  function change(value) {
    setText(value);
    saveDraft(place, value);
    if (value.trim()) notifyTyping(channel.id, threadId);
  }

  function submit() {
    const body = text.trim() ? text.replace(/\s+$/, "") : "";
    const files = attachmentState(place);
    if ((!body && !files.ready) || body.length > MAX_TEXT || files.uploading) return;
    if (!threadId) jumpToLatest(channel.id);
    send(channel.id, body, takeReady(place), { threadId });
    doneTyping(threadId ?? channel.id);
    change("");
  }

  function onKeyDown(event) {
    if (completion.onKeyDown(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "ArrowUp" && !text && !event.shiftKey) {
      const last = threadId ? lastOwnReply() : lastOwnMessage(channel.id);
      if (last) {
        event.preventDefault();
        editingId.value = threadId ? `${last.id}@thread` : last.id;
      }
    }
  }

  // Maintenance mode refuses this user's writes: said here, the draft kept for later.
  if (writesPaused.value) return html`<${PausedNote} />`;
  const tooLong = text.length > MAX_TEXT;
  const files = attachmentState(place);
  const id = threadId ? "thread-input" : "composer-input";
  return html`
    <form class=${threadId ? "composer thread-composer" : "composer"}
      onSubmit=${(event) => (event.preventDefault(), submit())}>
      <label class="visually-hidden" for=${id}>${label}</label>
      <textarea
        id=${id}
        ref=${area}
        rows="1"
        placeholder=${threadId ? "Reply…" : label}
        value=${text}
        aria-describedby=${hintId}
        aria-invalid=${tooLong ? "true" : undefined}
        onInput=${(event) => change(event.currentTarget.value)}
        onKeyDown=${onKeyDown}
        ...${completion.inputProps}
      ></textarea>
      <${CompletionList} completion=${completion} />
      <${Attachments} channelId=${place} inThread=${Boolean(threadId)} />
      <button type="submit" class="send" disabled=${(!text.trim() && !files.ready) || tooLong || files.uploading}>
        ${threadId ? "Reply" : "Send"}
      </button>
      <p id=${hintId} class=${tooLong ? "field-error composer-hint" : "visually-hidden"}>
        ${tooLong
          ? `At most ${MAX_TEXT.toLocaleString()} characters (${text.length.toLocaleString()} now).`
          : `Enter sends, Shift+Enter adds a line, Up edits your last ${threadId ? "reply" : "message"}.`}
      </p>
    </form>
  `;
}
