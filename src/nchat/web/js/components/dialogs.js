// The open dialog, if any (store.dialog says which).
import { html } from "../lib/html.js";
import { dialog } from "../store.js";
import { AddPersonDialog } from "./add-person.js";
import { BrowseChannelsDialog } from "./browse-channels.js";
import { ChannelSwitcher } from "./channel-switcher.js";
import { ConfirmDialog } from "./confirm-dialog.js";
import { CreateChannelDialog } from "./create-channel.js";
import { EditHistoryDialog } from "./edit-history.js";
import { Lightbox } from "./lightbox.js";
import { NewMessageDialog } from "./new-message.js";
import { ReactionPicker } from "./reaction-picker.js";
import { SettingsDialog } from "./settings.js";

const KINDS = {
  browse: BrowseChannelsDialog,
  create: CreateChannelDialog,
  direct: NewMessageDialog,
  switcher: ChannelSwitcher,
  confirm: ConfirmDialog,
  lightbox: Lightbox,
  history: EditHistoryDialog,
  reaction: ReactionPicker,
  settings: SettingsDialog,
  "add-person": AddPersonDialog,
};

export function Dialogs() {
  const open = dialog.value;
  const Kind = open && KINDS[open.kind];
  // Keyed by kind: switching from one dialog to another opens a new <dialog>.
  return Kind ? html`<${Kind} key=${open.kind} ...${open} />` : null;
}
