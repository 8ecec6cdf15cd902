// A labelled input with its hint and error tied to it for assistive technology.
// Uncontrolled: forms read their values with FormData on submit; `initial` is what it shows
// first.
import { html, useId } from "../lib/html.js";

export function Field({
  label,
  name,
  type = "text",
  autocomplete,
  hint,
  error,
  required = true,
  autofocus = false,
  initial,
  maxLength,
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : null;
  const errorId = error ? `${id}-error` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  return html`
    <div class="field">
      <label for=${id}>${label}${required ? null : html` <span class="optional">(optional)</span>`}</label>
      <input
        id=${id}
        name=${name}
        type=${type}
        autocomplete=${autocomplete}
        required=${required}
        autofocus=${autofocus || undefined}
        defaultValue=${initial}
        maxlength=${maxLength}
        aria-invalid=${error ? "true" : undefined}
        aria-describedby=${describedBy}
      />
      ${hint && html`<p class="hint" id=${hintId}>${hint}</p>`}
      ${error && html`<p class="field-error" id=${errorId}>${error}</p>`}
    </div>
  `;
}
