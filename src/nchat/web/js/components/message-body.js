// A message's content. THE ONE PLACE where HTML from the server enters the DOM: a
// message's `html` is rendered and sanitised by the server (Markdown, then nh3 with a small
// allow-list: decision 0035), and is shown as it is. Everything else, `text` included, is
// text: Preact escapes it. Nothing else in the client may use dangerouslySetInnerHTML.
import { html } from "../lib/html.js";

export function MessageBody({ message }) {
  if (typeof message.html === "string") {
    return html`<div class="message-body" dangerouslySetInnerHTML=${{ __html: message.html }} />`;
  }
  return html`<div class="message-body plain">${message.text ?? ""}</div>`;
}
