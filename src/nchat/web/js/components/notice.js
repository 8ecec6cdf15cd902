// Something that went wrong outside a form, said once (role="alert") until dismissed; or
// (`ok`) that something asked for was done, such as a link copied.
import { html } from "../lib/html.js";
import { notice } from "../store.js";

export function Notice() {
  const current = notice.value;
  return html`<div class="notice-area" role="alert">
    ${current &&
    html`<p class=${current.ok ? "notice-text ok" : "notice-text"}>
      ${current.message}
      <button type="button" class="link-button" onClick=${() => (notice.value = null)}>Dismiss</button>
    </p>`}
  </div>`;
}
