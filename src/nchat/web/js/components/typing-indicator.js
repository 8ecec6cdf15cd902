// "Ada is typing…" under the list, for the others writing in the open channel, or (with
// `threadId`) in that thread. Not a live region: it would talk over everything; the
// messages themselves are announced.
import { html } from "../lib/html.js";
import { nameOf } from "../people.js";
import { typing } from "../store.js";

export function TypingIndicator({ channelId, threadId = null, me }) {
  const here = typing.value.get(threadId ?? channelId);
  const ids = [...(here?.keys() ?? [])].filter((id) => id !== me);
  let text = "";
  if (ids.length === 1) text = `${nameOf(ids[0])} is typing…`;
  else if (ids.length === 2) text = `${nameOf(ids[0])} and ${nameOf(ids[1])} are typing…`;
  else if (ids.length > 2) text = "Several people are typing…";
  return html`<p class="typing">${text}</p>`;
}
