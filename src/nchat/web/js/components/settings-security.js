// The settings' Password and Sessions sections: changing the password signs out every
// other session; each other session can be signed out on its own.
import { ApiError } from "../api.js";
import { changePassword, deviceOf, endSession, listSessions } from "../account.js";
import { fullTime } from "../format.js";
import { html, useEffect, useId, useState } from "../lib/html.js";
import { user } from "../store.js";
import { Field } from "./field.js";
import { FormError } from "./form-error.js";
import { useSave } from "./use-save.js";

export function Section({ title, children }) {
  const id = useId();
  return html`<section class="settings-section" aria-labelledby=${id}>
    <h3 id=${id}>${title}</h3>
    ${children}
  </section>`;
}

const PASSWORD_FIELDS = { wrong_password: "current_password", password_too_short: "new_password" };

async function change(values, form) {
  if (values.new_password !== values.confirm_password) {
    const errors = [{ loc: ["confirm_password"], msg: "This differs from the new password." }];
    throw new ApiError(0, "passwords_differ", "The two new passwords differ.", { errors });
  }
  await changePassword(values.current_password, values.new_password);
  form.reset();
}

export function PasswordSection({ onChanged }) {
  const me = user.value;
  // The hidden username tells password managers whose password this is.
  const { busy, saved, fields, general, onSubmit } = useSave(async (values, form) => {
    await change(values, form);
    onChanged();
  }, PASSWORD_FIELDS);
  return html`<${Section} title="Password">
    <form onSubmit=${onSubmit} aria-busy=${busy}>
      <${FormError} error=${general} />
      <input type="text" name="username" autocomplete="username" value=${me.username} hidden readonly />
      <${Field} label="Current password" name="current_password" type="password"
        autocomplete="current-password" error=${fields.current_password} />
      <${Field} label="New password" name="new_password" type="password" autocomplete="new-password"
        error=${fields.new_password} />
      <${Field} label="Confirm new password" name="confirm_password" type="password"
        autocomplete="new-password" error=${fields.confirm_password} />
      <div class="settings-actions">
        <button type="submit" disabled=${busy}>${busy ? "Changing…" : "Change password"}</button>
        <p class="settings-done" role="status">
          ${saved ? "Password changed. Your other sessions were signed out." : ""}
        </p>
      </div>
    </form>
  </${Section}>`;
}

function SessionItem({ session, onEnd }) {
  const [busy, setBusy] = useState(false);
  const device = deviceOf(session.user_agent);
  async function end() {
    setBusy(true);
    try {
      await onEnd(session);
    } finally {
      setBusy(false);
    }
  }
  return html`<li class=${session.current ? "current" : ""}>
    <div class="result-text">
      <span class="result-name">${device}${session.current && html` <span class="tag">This session</span>`}</span>
      <span class="muted">
        Last active <time datetime=${session.last_used_at}>${fullTime(session.last_used_at)}</time>
        ${session.ip ? ` · ${session.ip}` : ""}
      </span>
    </div>
    ${!session.current &&
    html`<button type="button" class="secondary small" disabled=${busy} onClick=${end}
      aria-label=${`Sign out ${device}, last active ${fullTime(session.last_used_at)}`}>
      ${busy ? "Signing out…" : "Sign out"}
    </button>`}
  </li>`;
}

export function SessionsSection() {
  const [sessions, setSessions] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    listSessions().then(setSessions, setError);
  }, []);

  async function end(session) {
    try {
      await endSession(session.id);
      setSessions((list) => list.filter((s) => s.id !== session.id));
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  }

  const others = sessions?.filter((s) => !s.current).length ?? 0;
  return html`<${Section} title="Sessions">
    <${FormError} error=${error} />
    <div aria-busy=${sessions === null ? "true" : "false"}>
      ${sessions === null
        ? html`<p class="muted">Loading…</p>`
        : html`
            <p class="hint">${others ? "Everywhere you are signed in; signing a session out ends it there." : "You are signed in nowhere else."}</p>
            <ul class="session-list">
              ${sessions.map((s) => html`<${SessionItem} key=${s.id} session=${s} onEnd=${end} />`)}
            </ul>
          `}
    </div>
  </${Section}>`;
}
