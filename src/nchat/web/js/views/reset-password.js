// The page of a password-reset email's link (/#/reset-password/<token>): choose a new
// password without signing in (POST /api/auth/password-reset), then sign in with it. Every
// session of the account ends on the server when it is set.
import { request } from "../api.js";
import { Field } from "../components/field.js";
import { FormError } from "../components/form-error.js";
import { Heading } from "../components/heading.js";
import { useSave } from "../components/use-save.js";
import { html, useEffect, useRef } from "../lib/html.js";
import { leaveReset } from "../navigation.js";
import { appConfig, resetToken } from "../store.js";

const FIELD_OF_CODE = { password_too_short: "new_password" };
const MISMATCH = "The two passwords differ.";

async function choose(values) {
  if (values.new_password !== values.again) throw new Error(MISMATCH);
  await request("/api/auth/password-reset", {
    method: "POST",
    body: { token: resetToken.value, new_password: values.new_password },
  });
}

export function ResetPasswordView() {
  const { busy, saved, fields, general, onSubmit } = useSave(choose, FIELD_OF_CODE);
  const name = appConfig.value?.app_name || "nchat";
  const done = useRef(null);
  useEffect(() => {
    document.title = `New password · ${name}`;
  }, [name]);
  useEffect(() => saved && done.current?.focus(), [saved]);

  if (saved) {
    return html`<main class="card">
      <h1 tabindex="-1" ref=${done}>Your password is changed</h1>
      <p>You are signed out everywhere; sign in with the new password.</p>
      <button type="button" onClick=${leaveReset}>Sign in</button>
    </main>`;
  }
  // A refusal before the request (the two fields differ) is said beside the second field.
  const mismatch = general?.message.endsWith(MISMATCH);
  return html`<main class="card">
    <${Heading}>Choose a new password</${Heading}>
    <p class="muted">For your account on ${name}. The link works once, within an hour of the email.</p>
    <form method="post" onSubmit=${onSubmit} aria-busy=${busy}>
      ${!mismatch && html`<${FormError} error=${general} />`}
      <${Field} label="New password" name="new_password" type="password" autocomplete="new-password"
        autofocus=${true} maxLength=${1024} error=${fields.new_password} />
      <${Field} label="The same again" name="again" type="password" autocomplete="new-password"
        maxLength=${1024} error=${mismatch ? MISMATCH : null} />
      <div class="settings-actions">
        <button type="submit" disabled=${busy}>${busy ? "Saving…" : "Set password"}</button>
        <button type="button" class="link-button" onClick=${leaveReset}>Back to sign in</button>
      </div>
    </form>
  </main>`;
}
