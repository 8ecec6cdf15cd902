// A thread in the side panel: its first message, the replies (later pages on demand), the
// replies not confirmed yet, who is typing in it, and the composer (composer.js) for one
// more, files included.
// Everything in it changes live (threads.js); a reply shows at once and is confirmed by the
// server (outbox.js). `target`: a reply to point out once loaded (a message link's).
import { channelLabel, plural } from "../format.js";
import { html, useEffect, useLayoutEffect, useRef } from "../lib/html.js";
import {
  browserOnline,
  channels,
  connection,
  editingId,
  outbox,
  thread,
  user,
} from "../store.js";
import { closeThread, loadMoreReplies, openThread, retryThread } from "../threads.js";
import { Composer } from "./composer.js";
import { MessageItem } from "./message.js";
import { PendingMessages } from "./pending-message.js";
import { PanelFrame } from "./side-panel.js";
import { TypingIndicator } from "./typing-indicator.js";

const MODERATORS = new Set(["moderator", "admin", "owner"]);
const GROUP_MS = 5 * 60 * 1000;
// Within this of the bottom, a new reply keeps the view at the bottom.
const BOTTOM_PX = 48;
// A reply pointed out keeps its "jumped" look this long (css: the fade).
const JUMPED_MS = 4000;

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

export function ThreadPanel({ rootId, root = null, replying = false, target = null }) {
  const scroller = useRef(null);
  const stick = useRef(true);
  const pointed = useRef(null);

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

  useEffect(() => {
    if (!target || pointed.current === target || !t || t.loading) return;
    pointed.current = target;
    const item = scroller.current?.querySelector(`[data-key="${target}"]`);
    if (!item) return;
    item.scrollIntoView({ block: "center" });
    item.classList.add("jumped");
    setTimeout(() => item.classList.remove("jumped"), JUMPED_MS);
  }, [target, t?.loading]);

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
      ${channel && html`<${TypingIndicator} channelId=${channel.id} threadId=${rootId} me=${me.id} />`}
      ${!channel || shown?.deleted_at
        ? null
        : canReply
          ? html`<${Composer} key=${rootId} channel=${channel} threadId=${rootId} autofocus=${replying}
              label="Reply in thread" />`
          : html`<p class="composer-note">
              ${channel.archived ? "This channel is archived: it can be read, not written to." : "Join the channel to reply."}
            </p>`}
    </${PanelFrame}>
  `;
}
