// Maintenance mode's message across the top of the app while it is on (role="alert": said
// when it appears); nothing at all while it is off.
import { html } from "../lib/html.js";
import { maintenance, writesPaused } from "../store.js";

export function MaintenanceBanner() {
  const state = maintenance.value;
  if (!state) return null;
  const terms = writesPaused.value
    ? "Reading works; sending and changes are paused until it ends."
    : "Admins may still make changes.";
  return html`<div class="maintenance-banner" role="alert">
    <strong>Maintenance:</strong> ${state.message} <span>${terms}</span>
  </div>`;
}

// What the composer shows instead of itself while this user's writes are refused.
export function PausedNote() {
  return html`<p class="composer-note paused-note" role="status">
    Writing is paused while nchat is under maintenance. Your draft is kept.
  </p>`;
}
