// The open channel's messages, newest at the bottom.
//
// Scrolling: the list sticks to the bottom while the reader is there; anywhere else, the
// message at the top of the view stays where it is when pages load above or below it or
// the window's far end is dropped (measured before the update, restored after it: the
// browser's own scroll anchoring does the same for size changes between updates). Older
// pages load as the top comes near (or with the "Load older messages" button), newer ones
// as the bottom does when the window stops short of the newest. The newest message seen
// in a visible page moves the read marker. A window opened around a message (a search
// result) is placed with that message in the middle, pointed out and focused.
import { dayKey, dayLabel, fullTime } from "../format.js";
import { Component, html } from "../lib/html.js";
import {
  jumpToLatest,
  loadNewer,
  loadOlder,
  readNewest,
  reloadTimeline,
  setReading,
  targetShown,
} from "../timeline.js";
import { MessageItem } from "./message.js";
import { PendingMessages } from "./pending-message.js";

// Pages load when the view comes this close to an end of the loaded window.
const NEAR_PX = 800;
// Within this of the bottom counts as at the bottom.
const BOTTOM_PX = 24;
// A message jumped to keeps its "jumped" look this long (css: the fade).
const JUMPED_MS = 5000;
// A run of one author's messages shows their name once, while no gap is longer than this.
const GROUP_MS = 5 * 60 * 1000;
const MODERATORS = new Set(["moderator", "admin", "owner"]);

function rows(timeline, me) {
  const out = [];
  let previous = null;
  const marker = timeline.unreadFrom;
  let markerShown = marker === null || marker === undefined;
  for (const message of timeline.messages) {
    const day = dayKey(message.created_at);
    let newDay = false;
    if (!previous || dayKey(previous.created_at) !== day) {
      out.push({ kind: "day", key: `day-${day}`, at: message.created_at });
      newDay = true;
    }
    let unreadHere = false;
    if (!markerShown && message.id > marker && message.user.id !== me.id) {
      out.push({ kind: "unread", key: "unread-line" });
      markerShown = true;
      unreadHere = true;
    }
    const grouped =
      !newDay &&
      !unreadHere &&
      previous !== null &&
      previous.user.id === message.user.id &&
      !previous.deleted_at &&
      Date.parse(message.created_at) - Date.parse(previous.created_at) < GROUP_MS;
    out.push({ kind: "message", key: message.id, message, grouped });
    previous = message;
  }
  return { rows: out, last: previous };
}

export class MessageList extends Component {
  constructor(props) {
    super(props);
    this.state = { atBottom: true };
    this.scroller = null;
    this.positioned = null; // the timeline generation the view was first placed for
    this.wantBottom = false;
    this.onScroll = this.onScroll.bind(this);
    this.setScroller = (el) => {
      this.scroller = el;
    };
  }

  componentDidMount() {
    this.place();
    this.check();
  }

  componentWillUnmount() {
    setReading(null, false);
  }

  getSnapshotBeforeUpdate(previous) {
    const el = this.scroller;
    if (!el) return null;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_PX;
    const top = el.getBoundingClientRect().top;
    // The first item whose bottom is below the view's top: items are in vertical order, so
    // a binary search measures a handful of them, not hundreds.
    const items = el.querySelectorAll("[data-key]");
    let low = 0;
    let high = items.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (items[middle].getBoundingClientRect().bottom > top) high = middle;
      else low = middle + 1;
    }
    const first = items[low];
    const anchor = first
      ? { key: first.dataset.key, offset: first.getBoundingClientRect().top - top }
      : null;
    return {
      atBottom: atBottom && !previous.timeline.hasNewer,
      pending: previous.pending.length,
      anchor,
    };
  }

  componentDidUpdate(previous, _state, snapshot) {
    const el = this.scroller;
    if (!el) return;
    if (this.positioned !== this.props.timeline.gen && !this.props.timeline.loading) {
      this.place();
    } else if (this.aim()) {
      // The message jumped to is in view.
    } else if (snapshot) {
      const sent = this.props.pending.length > snapshot.pending;
      if ((snapshot.atBottom || sent) && !this.props.timeline.hasNewer) {
        el.scrollTop = el.scrollHeight;
      } else if (snapshot.anchor) {
        const item = el.querySelector(`[data-key="${snapshot.anchor.key}"]`);
        if (item) {
          const offset = item.getBoundingClientRect().top - el.getBoundingClientRect().top;
          el.scrollTop += offset - snapshot.anchor.offset;
        }
      }
    }
    this.check();
  }

  // The first placement of a loaded window: at the "New messages" line when what follows it
  // does not fit, else at the bottom.
  place() {
    const el = this.scroller;
    const timeline = this.props.timeline;
    if (!el || timeline.loading === "initial") return;
    this.positioned = timeline.gen;
    if (this.aim()) return;
    const line = el.querySelector(".unread-line");
    if (line && !this.wantBottom) {
      const offset = line.getBoundingClientRect().top - el.getBoundingClientRect().top;
      if (el.scrollHeight - (el.scrollTop + offset) > el.clientHeight) {
        el.scrollTop += offset - 16;
        return;
      }
    }
    this.wantBottom = false;
    el.scrollTop = el.scrollHeight;
  }

  // The message to bring into view (timeline.target), if any: centred, marked for a moment
  // and focused, so a keyboard continues from it. True when it was shown.
  aim() {
    const { timeline } = this.props;
    const target = timeline.target;
    if (!target || timeline.loading === "initial" || !this.scroller) return false;
    targetShown(timeline.channelId, target);
    const item = this.scroller.querySelector(`[data-key="${target.id}"]`);
    if (!item) return false;
    item.scrollIntoView({ block: "center" });
    item.classList.add("jumped");
    setTimeout(() => item.classList.remove("jumped"), JUMPED_MS);
    item.tabIndex = -1;
    // A frame later: messages laid out only once near the view may have moved it, and a
    // panel closed by the same click has given focus back to its opener by then.
    requestAnimationFrame(() => {
      if (!item.isConnected) return;
      item.scrollIntoView({ block: "center" });
      if (target.focus !== false) item.focus({ preventScroll: true });
    });
    return true;
  }

  onScroll() {
    this.check();
  }

  // Load what the view comes near, say whether the reader is at the bottom, and read.
  check() {
    const el = this.scroller;
    const { timeline } = this.props;
    if (!el || timeline.loading === "initial") return;
    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    const atBottom = fromBottom <= BOTTOM_PX && !timeline.hasNewer;
    if (atBottom !== this.state.atBottom) this.setState({ atBottom });
    setReading(timeline.channelId, atBottom);
    if (!timeline.loading && !timeline.error) {
      if (timeline.hasOlder && el.scrollTop < NEAR_PX) loadOlder(timeline.channelId);
      else if (timeline.hasNewer && fromBottom < NEAR_PX) loadNewer(timeline.channelId);
    }
    if (atBottom) readNewest(timeline.channelId);
  }

  jump() {
    const { timeline } = this.props;
    this.wantBottom = true;
    if (!jumpToLatest(timeline.channelId)) {
      this.wantBottom = false;
      this.scroller.scrollTop = this.scroller.scrollHeight;
    }
    document.getElementById("composer-input")?.focus({ preventScroll: true });
  }

  render({ timeline, pending, me, channel, online, editingId }) {
    const { rows: items, last } = rows(timeline, me);
    const canDeleteAny = MODERATORS.has(me.role);
    const lastMine = last && last.user.id === me.id && !last.deleted_at && !timeline.hasNewer;
    const name = channel.type === "direct" || channel.type === "group" ? "this conversation" : `#${channel.name}`;
    const busy = Boolean(timeline.loading);
    return html`
      <div class="timeline">
        <div class="scroller" ref=${this.setScroller} onScroll=${this.onScroll} aria-busy=${busy ? "true" : "false"}>
          <ol class="messages" aria-label=${`Messages in ${name}`}>
            <li class="history-edge" key="top">
              ${timeline.loading === "older" || (timeline.loading === "initial" && !items.length)
                ? html`<p class="muted" role="status">Loading messages…</p>`
                : timeline.hasOlder
                  ? html`<button type="button" class="secondary small" onClick=${() => loadOlder(timeline.channelId)}>
                      Load older messages
                    </button>`
                  : html`<p class="muted">This is the very beginning of ${name}.</p>`}
            </li>
            ${items.map((row) => {
              if (row.kind === "day") {
                return html`<li class="day" key=${row.key}><h2><time datetime=${row.at} title=${fullTime(row.at)}>${dayLabel(row.at)}</time></h2></li>`;
              }
              if (row.kind === "unread") {
                return html`<li class="unread-line" key=${row.key}><span>New messages</span></li>`;
              }
              const m = row.message;
              const mine = m.user.id === me.id;
              return html`<${MessageItem}
                key=${row.key}
                message=${m}
                grouped=${row.grouped}
                mine=${mine}
                canDelete=${mine || canDeleteAny}
                editing=${editingId === m.id}
              />`;
            })}
            ${!timeline.hasNewer &&
            html`<${PendingMessages} pending=${pending} me=${me} online=${online} afterMine=${lastMine} />`}
            ${timeline.loading === "newer" &&
            html`<li class="history-edge" key="bottom"><p class="muted" role="status">Loading newer messages…</p></li>`}
          </ol>
          ${timeline.error &&
          html`<div class="load-error" role="alert">
            <p>The messages could not be loaded: ${timeline.error}</p>
            <button type="button" class="small" onClick=${() => reloadTimeline(timeline.channelId)}>Try again</button>
          </div>`}
        </div>
        ${(!this.state.atBottom || timeline.hasNewer) &&
        html`<button type="button" class="jump-latest small" onClick=${() => this.jump()}>Jump to latest ↓</button>`}
      </div>
    `;
  }
}
