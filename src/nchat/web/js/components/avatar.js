// A person's initials on their colour; decorative (their name is always said beside it).
import { hueOf, initials } from "../format.js";
import { html } from "../lib/html.js";

export function Avatar({ person, size = "" }) {
  return html`<span class=${`avatar hue-${hueOf(person?.id)} ${size}`} aria-hidden="true"
    >${initials(person?.name)}</span
  >`;
}
