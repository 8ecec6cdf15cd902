// Administration, Maintenance: whether maintenance mode is on (reading works, writes are
// refused with 503 and a Retry-After), turning it on with a message and its terms, and off,
// each after a confirmation. The state follows the server's maintenance.* events too, so
// another admin's change shows here at once.
import { fullTime } from "../../format.js";
import { nameOf } from "../../people.js";
import { html, useEffect, useId, useState } from "../../lib/html.js";
import { call } from "../../session.js";
import { maintenance } from "../../store.js";
import { ConfirmAction } from "./confirm-action.js";

const PATH = "/api/admin/maintenance";
// As maintenance/schemas.py.
const DEFAULT_MESSAGE = "nchat is under maintenance: reading works, changes are paused for a moment.";
const DEFAULT_RETRY_S = 120;
const MAX_MESSAGE = 500;
const MAX_RETRY_S = 86_400;

function State({ state }) {
  if (!state.enabled) {
    return html`<p class="admin-state">Maintenance mode is <strong>off</strong>: everyone can write.</p>`;
  }
  return html`<div class="admin-state on">
    <p>Maintenance mode is <strong>on</strong>${state.started_at &&
      html` since <time datetime=${state.started_at}>${fullTime(state.started_at)}</time>`}${state.started_by &&
      ` by ${nameOf(state.started_by)}`}.</p>
    <dl class="admin-terms">
      <dt>Message</dt><dd>${state.message}</dd>
      <dt>Admins</dt><dd>${state.allow_admins ? "May still make changes" : "Paused like everyone"}</dd>
      <dt>Clients retry after</dt><dd>${state.retry_after_s} seconds</dd>
    </dl>
  </div>`;
}

function Terms({ state, busy, onSubmit }) {
  const ids = { message: useId(), admins: useId(), retry: useId() };
  const on = state.enabled;
  return html`<form class="admin-form" onSubmit=${onSubmit} aria-labelledby=${`${ids.message}-legend`}>
    <h3 id=${`${ids.message}-legend`}>${on ? "Change the message or terms" : "Turn maintenance mode on"}</h3>
    <div class="field">
      <label for=${ids.message}>Message shown to everyone</label>
      <textarea id=${ids.message} name="message" rows="3" required maxlength=${MAX_MESSAGE}
        defaultValue=${state.message ?? DEFAULT_MESSAGE}></textarea>
    </div>
    <label class="choice" for=${ids.admins}>
      <input id=${ids.admins} type="checkbox" name="allow_admins" defaultChecked=${state.allow_admins ?? false} />
      Owners and admins may still make changes
    </label>
    <div class="field">
      <label for=${ids.retry}>Clients retry after (seconds)</label>
      <input id=${ids.retry} class="admin-number" type="number" name="retry_after_s" required min="1"
        max=${MAX_RETRY_S} step="1" defaultValue=${state.retry_after_s ?? DEFAULT_RETRY_S}
        aria-describedby=${`${ids.retry}-hint`} />
      <p class="hint" id=${`${ids.retry}-hint`}>What refused writes tell clients to wait (Retry-After).</p>
    </div>
    <div class="settings-actions">
      <button type="submit" disabled=${busy}>${on ? "Save changes" : "Turn on…"}</button>
    </div>
  </form>`;
}

export function AdminMaintenance() {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  const [asking, setAsking] = useState(null); // {on: body} or {off: true}
  const [said, setSaid] = useState("");
  const live = maintenance.value;

  // Again whenever the server says maintenance changed (this admin's change or another's).
  useEffect(() => {
    let current = true;
    call(PATH).then(
      (answer) => current && setState(answer),
      (caught) => current && setError(caught.message),
    );
    return () => {
      current = false;
    };
  }, [live]);

  // On: asked first. While on: a new message or terms are saved at once.
  function submit(event) {
    event.preventDefault();
    const body = bodyOf(event.currentTarget);
    if (state.enabled) save(body);
    else setAsking({ on: body });
  }

  async function change(body, message) {
    const answer = await call(PATH, body ? { method: "PUT", body } : { method: "DELETE" });
    setState(answer);
    setError(null);
    setSaid(message);
  }

  async function save(body) {
    try {
      await change(body, "Saved.");
    } catch (caught) {
      setError(caught.message);
    }
  }

  let dialog = null;
  if (asking?.on) {
    dialog = html`<${ConfirmAction} title="Turn maintenance mode on?" confirmLabel="Turn on" danger=${true}
      body=${asking.on.allow_admins
        ? "Everyone but owners and admins can only read until you turn it off; they see your message."
        : "Everyone, you included, can only read until you turn it off; they see your message."}
      onConfirm=${() => change(asking.on, "Maintenance mode is on.")} onClose=${() => setAsking(null)} />`;
  } else if (asking?.off) {
    dialog = html`<${ConfirmAction} title="Turn maintenance mode off?" confirmLabel="Turn off"
      body="Everyone can write again; messages that waited are sent."
      onConfirm=${() => change(null, "Maintenance mode is off.")} onClose=${() => setAsking(null)} />`;
  }

  return html`<section class="admin-section admin-maintenance" aria-labelledby="admin-maintenance-title"
    aria-busy=${state === null && !error ? "true" : "false"}>
    <h2 id="admin-maintenance-title">Maintenance</h2>
    <p class="hint">While it is on, everyone can read; sending and changes are refused and wait,
      and the message shows across the top of every open page.</p>
    <p class="admin-said" role="status">${said}</p>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    ${state === null
      ? !error && html`<p class="muted">Loading…</p>`
      : html`
          <${State} state=${state} />
          ${state.enabled &&
          html`<div class="settings-actions">
            <button type="button" onClick=${() => setAsking({ off: true })}>Turn off…</button>
          </div>`}
          <${Terms} key=${state.enabled ? state.updated_at : "off"} state=${state} busy=${asking !== null}
            onSubmit=${submit} />
        `}
    ${dialog}
  </section>`;
}

function bodyOf(form) {
  const values = new FormData(form);
  return {
    message: String(values.get("message")).trim() || DEFAULT_MESSAGE,
    allow_admins: values.get("allow_admins") === "on",
    retry_after_s: Number(values.get("retry_after_s")),
  };
}
