// "Are you sure?" for what cannot be undone. Cancel has the focus: Enter does no harm.
import { html, useState } from "../lib/html.js";
import { closeDialog, Dialog } from "./dialog.js";

export function ConfirmDialog({ title, body, confirmLabel, danger, onConfirm }) {
  const [busy, setBusy] = useState(false);
  async function go() {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      closeDialog();
    }
  }
  return html`
    <${Dialog} title=${title} className="confirm">
      <p>${body}</p>
      <div class="dialog-actions">
        <button type="button" class="secondary" autofocus onClick=${closeDialog}>Cancel</button>
        <button type="button" class=${danger ? "danger" : ""} disabled=${busy} onClick=${go}>
          ${busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </${Dialog}>
  `;
}
