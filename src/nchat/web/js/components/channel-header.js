// The open channel's name (the page's <h1>), topic and member count, the search field; on
// narrow screens the button that shows the channel list.
import { channelLabel, isDirect, plural } from "../format.js";
import { html } from "../lib/html.js";
import { channels, panel, sidebarOpen } from "../store.js";
import { ChannelMenu } from "./channel-menu.js";
import { Icon } from "./icons.js";
import { PanelButtons } from "./message-panels.js";
import { SearchBox } from "./search-box.js";
import { closePanel, openPanel } from "./side-panel.js";

function FilesButton() {
  const shown = panel.value?.kind === "files";
  return html`<button type="button" class="icon-button files-button" aria-label="Files"
    title="Files in this conversation" aria-pressed=${shown ? "true" : "false"}
    onClick=${() => (shown ? closePanel() : openPanel("files"))}><${Icon} name="files" /></button>`;
}

export function ChannelHeader({ channel, me }) {
  const unreadElsewhere = [...(channels.value?.values() ?? [])].some(
    (c) => c.id !== channel?.id && c.is_member && c.mention_count,
  );
  const open = sidebarOpen.value;
  return html`
    <header class="channel-header">
      <button type="button" class="icon-button sidebar-toggle" aria-controls="sidebar"
        aria-expanded=${open ? "true" : "false"}
        aria-label=${unreadElsewhere ? "Show conversations (new mentions)" : "Show conversations"}
        onClick=${() => (sidebarOpen.value = !open)}>
        <span aria-hidden="true">☰</span>${unreadElsewhere && html`<span class="toggle-dot" aria-hidden="true"></span>`}
      </button>
      <div class="channel-heading">
        <h1 id="channel-title" tabindex="-1">${channel ? channelLabel(channel, me) : "nchat"}</h1>
        ${channel?.topic && html`<p class="topic" title=${channel.topic}>${channel.topic}</p>`}
      </div>
      ${channel && !isDirect(channel) &&
      html`<span class="member-count">${plural(channel.member_count, "member")}</span>`}
      ${channel && html`<${FilesButton} />`}
      ${channel && html`<${PanelButtons} />`}
      ${channel?.is_member && html`<${ChannelMenu} channel=${channel} />`}
      <${SearchBox} />
    </header>
  `;
}
