// A thread in the side panel: its first message, the replies (later pages on demand), the
// replies not confirmed yet, and a composer for one more. Everything in it changes live
// (threads.js); a reply shows at once and is confirmed by the server (outbox.js). Enter
// sends, Shift+Enter starts a new line, Up in an empty composer edits the user's last reply.
import { loadDraft, saveDraft } from "../drafts.js";
import { channelLabel, plural } from "../format.js";
import { html, useEffect, useLayoutEffect, useRef, useState } from "../lib/html.js";
import { send } from "../outbox.js";
import {
  browserOnline,
  channels,
  connection,
  editingId,
  outbox,
  thread,
  user,
} from "../store.js";
import { closeThread, lastOwnReply, loadMoreReplies, openThread, retryThread } from "../threads.js";
import { MessageItem } from "./message.js";
import { PendingMessages } from "./pending-message.js";
import { PanelFrame } from "./side-panel.js";

const MAX_TEXT = 40000;
const MODERATORS = new Set(["moderator", "admin", "owner"]);
const GROUP_MS = 5 * 60 * 1000;
// Within this of the bottom, a new reply keeps the view at the bottom.
const BOTTOM_PX = 48;

function ThreadComposer({ channel, rootId, autofocus }) {
  const draftKey = `thread-${rootId}`;
  const [text, setText] = useState(() => loadDraft(draftKey));
  const area = useRef(null);

  useEffect(() => {
    if (autofocus) area.current?.focus({ preventScroll: true });
  }, [rootId]);

  function change(value) {
    setText(value);
    saveDraft(draftKey, value);
  }

  function submit() {
    const body = text.trim() ? text.replace(/\s+$/, "") : "";
    if (!body || body.length > MAX_TEXT) return;
    send(channel.id, body, [], { threadId: rootId });
    change("");
  }

  function onKeyDown(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "ArrowUp" && !text && !event.shiftKey) {
      const last = lastOwnReply();
      if (last) {
        event.preventDefault();
        editingId.value = `${last.id}@thread`;
      }
    }
  }

  const tooLong = text.length > MAX_TEXT;
  return html`
    <form class="composer thread-composer" onSubmit=${(event) => (event.preventDefault(), submit())}>
      <label class="visually-hidden" for="thread-input">Reply in thread</label>
      <textarea
        id="thread-input"
        ref=${area}
        rows="1"
        placeholder="Reply…"
        value=${text}
        aria-invalid=${tooLong ? "true" : undefined}
        aria-describedby="thread-hint"
        onInput=${(event) => change(event.currentTarget.value)}
        onKeyDown=${onKeyDown}
      ></textarea>
      <button type="submit" class="send" disabled=${!text.trim() || tooLong}>Reply</button>
      <p id="thread-hint" class=${tooLong ? "field-error composer-hint" : "visually-hidden"}>
        ${tooLong
          ? `At most ${MAX_TEXT.toLocaleString()} characters (${text.length.toLocaleString()} now).`
          : "Enter sends, Shift+Enter adds a line, Up edits your last reply."}
      </p>
    </form>
  `;
}

function grouped(previous, message) {
  return (
    previous !== null &&
    previous.user.id === message.user.id &&
    !previous.deleted_at &&
    Date.parse(message.created_at) - Date.parse(previous.created_at) < GROUP_MS
  );
}

function Replies({ t, me, editing, pending, online }) {
  const canDeleteAny = MODERATORS.has(me.role);
  let previous = null;
  const items = t.replies.map((m) => {
    const mine = m.user.id === me.id;
    const item = html`<${MessageItem}
      key=${m.id}
      message=${m}
      grouped=${grouped(previous, m)}
      mine=${mine}
      canDelete=${mine || canDeleteAny}
      editing=${editing === `${m.id}@thread`}
      inThread=${true}
    />`;
    previous = m;
    return item;
  });
  const lastMine = previous && previous.user.id === me.id && !previous.deleted_at;
  return html`
    <ol class="thread-messages" aria-label="Replies">
      ${items}
      ${!t.hasMore &&
      html`<${PendingMessages} pending=${pending} me=${me} online=${online} afterMine=${lastMine} />`}
    </ol>
  `;
}

export function ThreadPanel({ rootId, root = null, replying = false }) {
  const scroller = useRef(null);
  const stick = useRef(true);

  useEffect(() => {
    openThread(rootId, root);
    stick.current = true;
    return () => closeThread(rootId);
  }, [rootId]);

  const current = thread.value;
  const t = current?.rootId === rootId ? current : null;
  const me = user.value;
  const pending = outbox.value.filter((item) => item.thread_id === rootId);
  const count = t?.replies.length ?? 0;

  // At the bottom when it opens and while the reader stays there (or sends).
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [count, pending.length, t?.loading]);

  function onScroll() {
    const el = scroller.current;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_PX;
  }

  const shown = t?.root ?? root;
  const channel = channels.value?.get(t?.channelId ?? shown?.channel_id) ?? null;
  const canReply = Boolean(channel?.is_member) && !channel.archived && !shown?.deleted_at;
  const online = connection.value === "online" && browserOnline.value;
  const editing = editingId.value;
  return html`
    <${PanelFrame} title="Thread" className="thread-panel">
      <div class="thread-scroll" ref=${scroller} onScroll=${onScroll}>
        ${channel && html`<p class="thread-where muted">in ${channelLabel(channel, me.id)}</p>`}
        ${shown &&
        html`<ol class="thread-messages thread-root" aria-label="Thread start">
          <${MessageItem}
            key=${shown.id}
            message=${shown}
            grouped=${false}
            mine=${shown.user.id === me.id}
            canDelete=${shown.user.id === me.id || MODERATORS.has(me.role)}
            editing=${editing === `${shown.id}@thread`}
            inThread=${true}
          />
        </ol>`}
        ${t?.loading === "initial"
          ? html`<p class="muted thread-status" role="status">Loading replies…</p>`
          : t &&
            !t.error &&
            html`<p class="thread-divider"><span>${plural(t.root?.reply_count ?? 0, "reply", "replies")}</span></p>`}
        ${t && html`<${Replies} t=${t} me=${me} editing=${editing} pending=${pending} online=${online} />`}
        ${t?.hasMore &&
        html`<p class="thread-more">
          <button type="button" class="secondary small" disabled=${t.loading === "more"} onClick=${loadMoreReplies}>
            ${t.loading === "more" ? "Loading…" : "Load more replies"}
          </button>
        </p>`}
        ${t?.error &&
        html`<div class="load-error" role="alert">
          <p>The thread could not be loaded: ${t.error}</p>
          <button type="button" class="small" onClick=${retryThread}>Try again</button>
        </div>`}
      </div>
      ${!channel || shown?.deleted_at
        ? null
        : canReply
          ? html`<${ThreadComposer} key=${rootId} channel=${channel} rootId=${rootId} autofocus=${replying} />`
          : html`<p class="composer-note">
              ${channel.archived ? "This channel is archived: it can be read, not written to." : "Join the channel to reply."}
            </p>`}
    </${PanelFrame}>
  `;
}
