// The open dialog, if any (store.dialog says which).
import { html } from "../lib/html.js";
import { dialog } from "../store.js";
import { BrowseChannelsDialog } from "./browse-channels.js";
import { ChannelSwitcher } from "./channel-switcher.js";
import { ConfirmDialog } from "./confirm-dialog.js";
import { CreateChannelDialog } from "./create-channel.js";
import { NewMessageDialog } from "./new-message.js";

const KINDS = {
  browse: BrowseChannelsDialog,
  create: CreateChannelDialog,
  direct: NewMessageDialog,
  switcher: ChannelSwitcher,
  confirm: ConfirmDialog,
};

export function Dialogs() {
  const open = dialog.value;
  const Kind = open && KINDS[open.kind];
  // Keyed by kind: switching from one dialog to another opens a new <dialog>.
  return Kind ? html`<${Kind} key=${open.kind} ...${open} />` : null;
}
