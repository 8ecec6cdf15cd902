// Every version of a message's text, oldest first, each with the time it was written: what
// "(edited)" opens. The texts are shown as written (plain text: no version but the current
// one has server HTML).
import { ApiError } from "../api.js";
import { fullTime } from "../format.js";
import { html, useEffect, useState } from "../lib/html.js";
import { call } from "../session.js";
import { Dialog } from "./dialog.js";

function labelOf(index, count) {
  if (index === count - 1) return "Current";
  return index === 0 ? "Original" : `Edit ${index}`;
}

export function EditHistoryDialog({ messageId }) {
  const [versions, setVersions] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    call(`/api/messages/${messageId}/history`).then(
      (answer) => setVersions(answer.versions),
      (caught) => setError(caught instanceof ApiError ? caught.message : String(caught)),
    );
  }, [messageId]);

  return html`
    <${Dialog} title="Edit history" className="edit-history">
      ${error && html`<p class="field-error" role="alert">The history could not be loaded: ${error}</p>`}
      ${!versions && !error && html`<p class="muted" role="status">Loading…</p>`}
      ${versions?.length === 0 && html`<p class="muted">The message was deleted.</p>`}
      ${versions?.length > 0 &&
      html`<ol class="history-list dialog-list">
        ${versions.map(
          (version, i) => html`<li key=${version.at}>
            <p class="history-when">
              <strong>${labelOf(i, versions.length)}</strong>
              <time class="muted" datetime=${version.at}>${fullTime(version.at)}</time>
            </p>
            <div class="message-body plain">${version.text}</div>
          </li>`,
        )}
      </ol>`}
    </${Dialog}>
  `;
}
