// The client's few drawn symbols, as inline SVG in the text's colour: they look the same on
// every system, with or without an emoji font. Decorative: the control carries the name.
import { html } from "../lib/html.js";

const PATHS = {
  // A paperclip: attach.
  attach:
    "M17.5 11.5 11 18a4 4 0 0 1-5.7-5.7l7.4-7.4a2.6 2.6 0 0 1 3.7 3.7l-7.2 7.2a1.2 1.2 0 0 1-1.7-1.7l6.6-6.6",
  // Two sheets, one behind the other: the conversation's files.
  files: "M9 3.5h6l4 4v10.5H9z M15 3.5v4h4 M6 7v13.5h10",
  // A push pin: pinned messages.
  pin: "M9 3.5h6 M10 3.5v5.5l-3 4h10l-3-4V3.5 M12 13v7.5",
  // A bookmark ribbon: saved messages.
  bookmark: "M7 3.5h10v17l-5-4-5 4z",
  // A shield with a tick: the administration pages.
  admin: "M12 3.5 19 6.5v5c0 4.5-3 7.5-7 9-4-1.5-7-4.5-7-9v-5z M9 12l2 2 4-4",
  // A bell struck through: a muted conversation.
  muted: "M6 16v-5a6 6 0 0 1 12 0v5l1.5 2h-15z M10 20.5a2 2 0 0 0 4 0 M4 3.5l16 17",
};

export function Icon({ name }) {
  return html`<svg class="svg-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"
    focusable="false" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"
    stroke-linejoin="round"><path d=${PATHS[name]} /></svg>`;
}
