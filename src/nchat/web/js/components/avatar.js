// A person's picture, or their initials on their colour when they have none or it cannot
// be loaded; decorative (their name is always said beside it).
import { hueOf, initials } from "../format.js";
import { html, useState } from "../lib/html.js";
import { avatarOf } from "../people.js";

export function Avatar({ person, size = "" }) {
  const url = avatarOf(person);
  const [failed, setFailed] = useState(null);
  if (url && url !== failed) {
    return html`<img class=${`avatar ${size}`} src=${url} alt="" aria-hidden="true" loading="lazy"
      onError=${() => setFailed(url)} />`;
  }
  return html`<span class=${`avatar hue-${hueOf(person?.id)} ${size}`} aria-hidden="true"
    >${initials(person?.name)}</span
  >`;
}
