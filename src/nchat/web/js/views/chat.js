// Signed in: the channel list, the open channel (header, messages, typing, composer), the
// panel beside it, the dialogs, and the keyboard shortcuts (Ctrl+K: jump to a
// conversation; Ctrl+Shift+F: search; Escape: close the channel list or the panel). The
// administration pages, for owners and admins, take the chat's place while open; the
// connection stays, so the chat is as it was when they close.
import { canAddPeople } from "../components/add-person.js";
import { ChannelHeader } from "../components/channel-header.js";
import { Composer } from "../components/composer.js";
import { ConnectionBanner } from "../components/connection-banner.js";
import { Dialogs } from "../components/dialogs.js";
import { MessageList } from "../components/message-list.js";
import { Notice } from "../components/notice.js";
import { closePanel, SidePanel } from "../components/side-panel.js";
import { closeSidebar, Sidebar } from "../components/sidebar.js";
import { TypingIndicator } from "../components/typing-indicator.js";
import { joinChannel } from "../channels.js";
import { channelLabel } from "../format.js";
import { html, useEffect, useState } from "../lib/html.js";
import { startChat, stopChat } from "../live.js";
import { followAdminRoute, titleFor } from "../navigation.js";
import { isShortcut as isSearchShortcut, startSearch } from "../search.js";
import {
  adminSection,
  announcement,
  appConfig,
  browserOnline,
  channels,
  connection,
  dialog,
  editingId,
  notice,
  openChannel,
  openChannelId,
  outbox,
  panel,
  sidebarOpen,
  timelines,
  user,
} from "../store.js";

const POSTING_ROLES = new Set(["admin", "owner"]);

function onKeyDown(event) {
  if (adminSection.value) return; // the admin pages have keys of their own
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
    event.preventDefault();
    dialog.value = dialog.value?.kind === "switcher" ? null : { kind: "switcher" };
  } else if (isSearchShortcut(event) && !dialog.value) {
    event.preventDefault();
    sidebarOpen.value = false;
    startSearch();
  } else if (event.key === "Escape" && !dialog.value && !event.defaultPrevented) {
    if (sidebarOpen.value) closeSidebar();
    else if (panel.value) closePanel();
  }
}

// The admin pages' module loads when they first open.
let Admin = null;

function AdminPages() {
  const [failed, setFailed] = useState(null);
  const [, setReady] = useState(false);
  useEffect(() => {
    if (Admin) return;
    import("./admin/index.js").then(
      (module) => {
        Admin = module.AdminView;
        setReady(true);
      },
      (error) => setFailed(error),
    );
  }, []);
  if (Admin) return html`<${Admin} />`;
  return html`<main class="admin-loading">
    <h1>Administration</h1>
    ${failed
      ? html`<p class="form-error" role="alert">The administration pages could not be loaded: ${failed.message}</p>`
      : html`<p class="muted" role="status">Loading…</p>`}
  </main>`;
}

function Welcome({ me }) {
  const show = (kind) => () => (dialog.value = { kind });
  return html`
    <div class="welcome">
      <h1 tabindex="-1" id="channel-title">Welcome, ${me.name}</h1>
      <p>${channels.value === null
        ? "Loading your conversations…"
        : "Pick a conversation, or start one:"}</p>
      <div class="welcome-actions">
        <button type="button" onClick=${show("browse")}>Browse channels</button>
        <button type="button" class="secondary" onClick=${show("create")}>Create channel</button>
        <button type="button" class="secondary" onClick=${show("direct")}>New message</button>
        ${canAddPeople(me.role) &&
        html`<button type="button" class="secondary" onClick=${show("add-person")}>Add a person</button>`}
      </div>
    </div>
  `;
}

function JoinBar({ channel }) {
  const [busy, setBusy] = useState(false);
  async function join() {
    setBusy(true);
    try {
      await joinChannel(channel.id);
    } catch (error) {
      notice.value = { message: `You could not join #${channel.name}: ${error.message}` };
    } finally {
      setBusy(false);
    }
  }
  return html`<div class="composer-note">
    <p>You are looking at <strong>#${channel.name}</strong>.</p>
    <button type="button" onClick=${join} disabled=${busy}>${busy ? "Joining…" : `Join #${channel.name}`}</button>
  </div>`;
}

function Footer({ channel, me }) {
  if (!channel.is_member) {
    return channel.type === "public" ? html`<${JoinBar} channel=${channel} />` : null;
  }
  if (channel.archived) {
    return html`<p class="composer-note">This channel is archived: it can be read, not written to.</p>`;
  }
  if (channel.type === "announcement" && !POSTING_ROLES.has(me.role)) {
    return html`<p class="composer-note">Only admins post in this channel.</p>`;
  }
  const label = `Message ${channelLabel(channel, me.id)}`;
  return html`<${Composer} key=${channel.id} channel=${channel} label=${label} />`;
}

export function ChatView() {
  const me = user.value;
  const id = openChannelId.value;
  const channel = openChannel.value;
  const timeline = id ? timelines.value.get(id) : null;

  useEffect(() => {
    followAdminRoute();
    startChat();
    document.addEventListener("keydown", onKeyDown);
    // Widened past the narrow layout: the list is a column again, not an overlay.
    const wide = window.matchMedia("(min-width: 48rem)");
    const onWide = () => wide.matches && (sidebarOpen.value = false);
    wide.addEventListener("change", onWide);
    return () => {
      document.removeEventListener("keydown", onKeyDown);
      wide.removeEventListener("change", onWide);
      stopChat();
      adminSection.value = null;
    };
  }, []);

  const admin = adminSection.value;
  const title = admin
    ? `Administration · ${appConfig.value?.app_name || "nchat"}`
    : titleFor(channel, me.id, appConfig.value?.app_name);
  useEffect(() => {
    document.title = title;
  }, [title]);

  // Replies wait in their thread's panel, not here.
  const pending = outbox.value.filter((item) => item.channel_id === id && !item.thread_id);
  if (admin) {
    return html`<div class="admin-frame">
      <${AdminPages} />
      <${Dialogs} />
      <${Notice} />
    </div>`;
  }
  return html`
    <div class=${`chat${sidebarOpen.value ? " sidebar-is-open" : ""}${panel.value ? " panel-is-open" : ""}`}>
      <${Sidebar} />
      <main class="conversation" aria-labelledby="channel-title" inert=${sidebarOpen.value || undefined}>
        ${channel
          ? html`
              <${ChannelHeader} channel=${channel} me=${me.id} />
              <${ConnectionBanner} />
              ${timeline
                ? html`<${MessageList}
                    key=${id}
                    timeline=${timeline}
                    pending=${pending}
                    me=${me}
                    channel=${channel}
                    online=${connection.value === "online" && browserOnline.value}
                    editingId=${editingId.value}
                  />`
                : html`<div class="timeline"><p class="muted" role="status">Loading messages…</p></div>`}
              <${TypingIndicator} channelId=${channel.id} me=${me.id} />
              <${Footer} channel=${channel} me=${me} />
            `
          : html`
              <header class="channel-header bare">
                <button type="button" class="icon-button sidebar-toggle" aria-controls="sidebar"
                  aria-expanded=${sidebarOpen.value ? "true" : "false"} aria-label="Show conversations"
                  onClick=${() => (sidebarOpen.value = !sidebarOpen.value)}><span aria-hidden="true">☰</span></button>
              </header>
              <${ConnectionBanner} />
              <${Welcome} me=${me} />
            `}
      </main>
      <${SidePanel} />
      <${Dialogs} />
      <${Notice} />
      <div class="visually-hidden" role="log" aria-live="polite" aria-relevant="additions">${announcement.value}</div>
    </div>
  `;
}
