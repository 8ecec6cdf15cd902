// A send the server has not confirmed yet, at the end of the list, with its state in
// words: sending, waiting for the connection, or refused (retry or discard).
import { timeOf } from "../format.js";
import { html } from "../lib/html.js";
import { discard, retry } from "../outbox.js";
import { Avatar } from "./avatar.js";
import { MessageFiles } from "./message-files.js";

const STATES = {
  sending: "Sending…",
  waiting: "Waiting for the connection… it will be sent when the server is back.",
};

export function PendingMessage({ item, me, grouped, online }) {
  const failed = item.state === "failed";
  const state = item.state === "waiting" && online ? "sending" : item.state;
  return html`
    <li class=${`message mine pending ${failed ? "failed" : ""} ${grouped ? "grouped" : ""}`} data-key=${item.client_id}>
      <div class="gutter">
        ${grouped ? null : html`<${Avatar} person=${me} />`}
      </div>
      <div class="message-main">
        ${grouped
          ? html`<span class="visually-hidden">${me.name}, </span>`
          : html`<p class="message-meta">
              <span class="author">${me.name}</span>
              <time datetime=${item.created_at}>${timeOf(item.created_at)}</time>
            </p>`}
        <div class="message-body plain">${item.text}</div>
        ${item.files?.length > 0 && html`<${MessageFiles} files=${item.files} />`}
        <p class="send-state" role=${failed ? "alert" : undefined}>
          ${failed ? `Not sent: ${item.error}` : STATES[state] ?? STATES.sending}
          ${failed &&
          html` <button type="button" class="link-button" onClick=${() => retry(item.client_id)}>Retry</button>
            <button type="button" class="link-button" onClick=${() => discard(item.client_id)}>Discard</button>`}
        </p>
      </div>
    </li>
  `;
}

// The sends waiting at the end of a list; the first is grouped under the last message when
// that one is the user's own.
export function PendingMessages({ pending, me, online, afterMine }) {
  return pending.map(
    (item, i) => html`<${PendingMessage}
      key=${item.client_id}
      item=${item}
      me=${me}
      online=${online}
      grouped=${i > 0 || Boolean(afterMine)}
    />`,
  );
}
