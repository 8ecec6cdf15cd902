// The submit handler of a form: reads its fields, runs `action` once at a time, and keeps
// the error it threw (an ApiError) with its messages by field.
import { ApiError } from "../api.js";
import { useState } from "../lib/html.js";

// Refusals that concern one field although they are not validation errors.
const FIELD_OF_CODE = {
  password_too_short: "password",
  username_taken: "username",
  channel_name_taken: "name",
};

export function useSubmit(action) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function onSubmit(event) {
    event.preventDefault();
    if (busy) return;
    const values = Object.fromEntries(new FormData(event.currentTarget));
    setBusy(true);
    setError(null);
    try {
      await action(values);
      // Success changes the screen: this form is gone, nothing more to set.
    } catch (caught) {
      setBusy(false);
      setError(caught instanceof ApiError ? caught : new ApiError(0, "client_error", String(caught)));
    }
  }

  const fields = error ? error.fieldErrors() : {};
  const field = error && FIELD_OF_CODE[error.code];
  if (field) fields[field] ??= error.message;
  return { busy, error, fields, onSubmit };
}
