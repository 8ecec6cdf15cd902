// A screen's <h1>, focused when the screen appears so screen readers announce the change.
import { html, useEffect, useRef } from "../lib/html.js";

export function Heading({ children }) {
  const ref = useRef(null);
  useEffect(() => ref.current?.focus(), []);
  return html`<h1 tabindex="-1" ref=${ref}>${children}</h1>`;
}
