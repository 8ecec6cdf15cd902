// The connection's state in words (role="status"): nothing while all is well. A first
// connection that takes more than a moment is said too.
import { html, useEffect, useState } from "../lib/html.js";
import { browserOnline, connection, outbox } from "../store.js";

const SLOW_MS = 2000;

export function ConnectionBanner() {
  const state = connection.value;
  const [slow, setSlow] = useState(false);
  useEffect(() => {
    setSlow(false);
    if (state !== "connecting") return undefined;
    const timer = setTimeout(() => setSlow(true), SLOW_MS);
    return () => clearTimeout(timer);
  }, [state]);

  const waiting = outbox.value.filter((item) => item.state !== "failed").length;
  const queued = waiting
    ? ` ${waiting === 1 ? "1 message waits" : `${waiting} messages wait`} to be sent.`
    : "";
  let text = "";
  if (!browserOnline.value) {
    text = "You are offline. Messages you write are sent when the connection is back.";
  } else if (state === "reconnecting") {
    text = `Reconnecting…${queued}`;
  } else if (state === "connecting" && slow) {
    text = `Connecting…${queued}`;
  }
  return html`<div class=${text ? "banner" : "banner empty"} role="status">${text}</div>`;
}
