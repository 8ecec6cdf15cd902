// A modal <dialog>: opened with showModal() (the browser keeps focus inside it and makes
// the page behind it inert), labelled by its heading, closed by Escape, by its Close
// button or by a click on the backdrop. Focus goes back where it was when it opened.
import { html, useId, useLayoutEffect, useRef } from "../lib/html.js";
import { dialog } from "../store.js";

export function closeDialog() {
  dialog.value = null;
}

export function Dialog({ title, children, className = "", onClose = closeDialog }) {
  const ref = useRef(null);
  const titleId = useId();

  useLayoutEffect(() => {
    const el = ref.current;
    const opener = document.activeElement;
    el.showModal();
    return () => {
      if (el.open) el.close();
      const back = opener?.isConnected ? opener : document.getElementById("composer-input");
      back?.focus({ preventScroll: true });
    };
  }, []);

  return html`
    <dialog
      ref=${ref}
      class=${`dialog ${className}`}
      aria-labelledby=${titleId}
      onClose=${onClose}
      onClick=${(event) => event.target === ref.current && onClose()}
    >
      <div class="dialog-inner">
        <div class="dialog-head">
          <h2 id=${titleId}>${title}</h2>
          <button type="button" class="icon-button" aria-label="Close" onClick=${onClose}>
            <span aria-hidden="true">×</span>
          </button>
        </div>
        ${children}
      </div>
    </dialog>
  `;
}
