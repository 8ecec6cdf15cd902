// The submit handler of a form that stays after it is sent (settings): reads its fields,
// runs `action(values, form)` once at a time, and keeps what came of it: `saved` (the
// action's answer, for a confirmation) or the error with its messages by field.
import { ApiError } from "../api.js";
import { useState } from "../lib/html.js";

export function useSave(action, fieldOfCode = {}) {
  const [state, setState] = useState({ busy: false, error: null, saved: null });

  async function onSubmit(event) {
    event.preventDefault();
    if (state.busy) return;
    const form = event.currentTarget;
    const values = Object.fromEntries(new FormData(form));
    setState({ busy: true, error: null, saved: null });
    try {
      const saved = (await action(values, form)) ?? true;
      setState({ busy: false, error: null, saved });
    } catch (caught) {
      const error = caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught));
      setState({ busy: false, error, saved: null });
    }
  }

  const { error } = state;
  const fields = error ? error.fieldErrors() : {};
  const field = error && fieldOfCode[error.code];
  if (field) fields[field] ??= error.message;
  // An error said beside its field is not said again above the form.
  const general = error && Object.keys(fields).length === 0 ? error : null;
  return { ...state, fields, general, onSubmit };
}
