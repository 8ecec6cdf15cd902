// "Are you sure?" for an admin action, drawn by the page that asks (not through the chat's
// dialog signal). Cancel has the focus; a failure is said in the dialog, which stays open.
// `typed`: text the person must type first, for what cannot be undone.
import { html, useId, useState } from "../../lib/html.js";
import { Dialog } from "../../components/dialog.js";

export function ConfirmAction({ title, body, confirmLabel, danger = false, typed = null, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [text, setText] = useState("");
  const inputId = useId();
  const ready = typed === null || text.trim() === typed;

  async function go(event) {
    event.preventDefault();
    if (busy || !ready) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (caught) {
      setBusy(false);
      setError(caught.message);
    }
  }

  return html`
    <${Dialog} title=${title} className="confirm admin-confirm" onClose=${onClose}>
      <form onSubmit=${go}>
        <p>${body}</p>
        ${typed !== null &&
        html`<div class="field">
          <label for=${inputId}>Type <strong class="typed-word">${typed}</strong> to confirm</label>
          <input id=${inputId} autocomplete="off" spellcheck="false" value=${text}
            onInput=${(e) => setText(e.currentTarget.value)} />
        </div>`}
        ${error && html`<p class="form-error" role="alert">${error}</p>`}
        <div class="dialog-actions">
          <button type="button" class="secondary" autofocus onClick=${onClose}>Cancel</button>
          <button type="submit" class=${danger ? "danger" : ""} disabled=${busy || !ready}>
            ${busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </form>
    </${Dialog}>
  `;
}
