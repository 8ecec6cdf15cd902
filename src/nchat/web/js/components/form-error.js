// What went wrong with a form, announced when it appears.
import { html } from "../lib/html.js";

export function FormError({ error }) {
  if (!error) return null;
  return html`<p class="form-error" role="alert">${error.message}</p>`;
}
