// The channel list: the user's channels (unread ones bold, mentions counted) and DMs
// (unread counted, the partner's picture and presence), with the ways to find, create and
// start more.
import { sections } from "../channels.js";
import { channelTitle, isDirect, partners, plural } from "../format.js";
import { html, useEffect } from "../lib/html.js";
import { canAdminister, showChannel } from "../navigation.js";
import { signOut } from "../session.js";
import {
  appConfig,
  channelPrefs,
  channels,
  dialog,
  openChannelId,
  presence,
  sidebarOpen,
  user,
} from "../store.js";
import { canAddPeople } from "./add-person.js";
import { Avatar } from "./avatar.js";
import { Icon } from "./icons.js";

// Close the overlay and give focus back to the button that opens it (once the conversation
// behind is no longer inert, after the next render).
export function closeSidebar() {
  sidebarOpen.value = false;
  setTimeout(() => document.querySelector(".sidebar-toggle")?.focus(), 0);
}

function follow(event, channelId) {
  // A plain click opens it here; with a modifier key the browser opens a tab as usual.
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  showChannel(channelId);
}

function PresenceDot({ status }) {
  const state = status ?? "offline";
  return html`<span class=${`presence ${state}`} aria-hidden="true"></span
    ><span class="visually-hidden">(${state})</span>`;
}

function ChannelLink({ channel, me, current }) {
  const direct = isDirect(channel);
  const unread = channel.unread_count ?? 0;
  // A DM's every unread message counts as a mention (the server's rule): one badge for both.
  const mentions = channel.mention_count ?? 0;
  const people = direct ? partners(channel, me) : [];
  const title = channelTitle(channel, me);
  const status = channel.type === "direct" && people[0] ? presence.value.get(people[0].id) : null;
  const muted = channelPrefs.value.get(channel.id)?.muted;
  const described = [
    muted ? "muted" : null,
    unread ? plural(unread, "unread message") : null,
    mentions && !direct ? plural(mentions, "mention") : null,
  ].filter(Boolean);
  return html`
    <li>
      <a
        href=${`/channels/${channel.id}`}
        class=${`channel-link ${unread ? "unread" : ""}`}
        aria-current=${current ? "page" : undefined}
        onClick=${(event) => follow(event, channel.id)}
      >
        ${direct
          ? channel.type === "direct"
            ? html`<span class="dm-avatar"><${Avatar} person=${people[0]} size="tiny" /><${PresenceDot} status=${status} /></span>`
            : html`<span class="prefix" aria-hidden="true">${people.length}</span>`
          : html`<span class="prefix" aria-hidden="true">${channel.type === "private" ? "🔒" : "#"}</span>`}
        <span class="channel-name">${title}</span>
        ${muted && html`<span class="muted-mark" title="Muted"><${Icon} name="muted" /></span>`}
        ${channel.type === "private" && html`<span class="visually-hidden">(private)</span>`}
        ${described.length > 0 && html`<span class="visually-hidden">, ${described.join(", ")}</span>`}
        ${mentions > 0 && html`<span class="badge" aria-hidden="true">${mentions}</span>`}
      </a>
    </li>
  `;
}

export function Sidebar() {
  const me = user.value;
  const list = channels.value;
  const { named, direct } = sections(list, me.id);
  const open = openChannelId.value;
  const overlay = sidebarOpen.value;
  const show = (kind) => () => (dialog.value = { kind });

  useEffect(() => {
    // Shown over the conversation (narrow screens): focus goes into it, to where one is.
    if (!overlay) return;
    const nav = document.getElementById("sidebar");
    (nav.querySelector("a[aria-current=page]") ?? nav.querySelector("a, button"))?.focus();
  }, [overlay]);
  return html`
    <div class=${`sidebar-shade ${sidebarOpen.value ? "open" : ""}`} onClick=${closeSidebar}></div>
    <nav id="sidebar" class=${`sidebar ${sidebarOpen.value ? "open" : ""}`} aria-label="Conversations">
      <div class="sidebar-head">
        <span class="brand">${appConfig.value?.app_name || "nchat"}</span>
        <button type="button" class="icon-button close-sidebar" aria-label="Hide conversations"
          onClick=${closeSidebar}><span aria-hidden="true">×</span></button>
      </div>
      <button type="button" class="jump-to" onClick=${show("switcher")} aria-keyshortcuts="Control+K">
        <span>Jump to…</span><kbd aria-hidden="true">Ctrl K</kbd>
      </button>
      <div class="sidebar-scroll">
        ${list === null
          ? html`<p class="muted sidebar-note" role="status">Loading…</p>`
          : html`
              <section aria-labelledby="channels-heading">
                <div class="section-head">
                  <h2 id="channels-heading">Channels</h2>
                  <button type="button" class="icon-button" aria-label="Create channel" title="Create channel"
                    onClick=${show("create")}><span aria-hidden="true">+</span></button>
                </div>
                ${named.length
                  ? html`<ul class="channel-list">
                      ${named.map((c) => html`<${ChannelLink} key=${c.id} channel=${c} me=${me.id} current=${c.id === open} />`)}
                    </ul>`
                  : html`<p class="muted sidebar-note">You are in no channel yet.</p>`}
                <button type="button" class="link-button sidebar-action" onClick=${show("browse")}>Browse channels</button>
              </section>
              <section aria-labelledby="direct-heading">
                <div class="section-head">
                  <h2 id="direct-heading">Direct messages</h2>
                  <button type="button" class="icon-button" aria-label="New message" title="New message"
                    onClick=${show("direct")}><span aria-hidden="true">+</span></button>
                </div>
                ${direct.length
                  ? html`<ul class="channel-list">
                      ${direct.map((c) => html`<${ChannelLink} key=${c.id} channel=${c} me=${me.id} current=${c.id === open} />`)}
                    </ul>`
                  : html`<p class="muted sidebar-note">No conversations yet.</p>`}
                ${canAddPeople(me.role) &&
                html`<button type="button" class="link-button sidebar-action" onClick=${show("add-person")}>Add a person</button>`}
              </section>
            `}
      </div>
      <div class="sidebar-foot">
        <${Avatar} person=${me} size="small" />
        <span class="who"><span class="who-name">${me.name}</span> <span class="muted">@${me.username}</span></span>
        ${canAdminister(me.role) &&
        html`<a class="icon-button" href="#/admin/overview" aria-label="Administration" title="Administration"
          ><${Icon} name="admin" /></a>`}
        <button type="button" class="icon-button" aria-label="Profile and settings" title="Profile and settings"
          onClick=${show("settings")}><span aria-hidden="true">⚙</span></button>
        <button type="button" class="secondary small" onClick=${() => signOut()}>Sign out</button>
      </div>
    </nav>
  `;
}
