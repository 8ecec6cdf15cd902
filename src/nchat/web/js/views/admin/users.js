// Administration, Users: everyone with an account, found by name and filtered by role,
// state and when last seen, a page at a time; a new account; and per person, each after a
// confirmation: role, deactivation, ending their sessions, a password reset, deletion. The
// admin's own row offers nothing: their account is changed from their settings.
import { withQuery } from "../../api.js";
import { fullTime, plural } from "../../format.js";
import { html, useEffect, useId, useRef, useState } from "../../lib/html.js";
import { call } from "../../session.js";
import { user } from "../../store.js";
import {
  addPerson,
  CopyButton,
  grantableRoles,
  PasswordField,
  ROLE_LABELS,
  RoleField,
} from "../../components/add-person.js";
import { Dialog } from "../../components/dialog.js";
import { Field } from "../../components/field.js";
import { MenuButton } from "../../components/menu.js";
import { useSave } from "../../components/use-save.js";
import { ConfirmAction } from "./confirm-action.js";
import { usePages, useTypedQuery } from "./filters.js";

const PAGE = 50;
const DAY_MS = 86_400_000;
const RANK = ["guest", "member", "moderator", "admin", "owner"];
// Last seen: [label, the query it makes].
const SEEN = {
  "": ["Any time", () => ({})],
  "1d": ["In the last day", () => ({ seen_after: ago(1) })],
  "7d": ["In the last 7 days", () => ({ seen_after: ago(7) })],
  "30d": ["In the last 30 days", () => ({ seen_after: ago(30) })],
  "not30d": ["Not in the last 30 days", () => ({ seen_before: ago(30) })],
};
const FIELD_OF_CODE = {
  username_taken: "username",
  password_too_short: "password",
  role_not_assignable: "role",
};
// The server's refusals, said as what to do about them.
const WORDS = {
  own_account: "That is your own account: change it under Profile and settings, not here.",
  last_owner: "This is the last owner. Make someone else an owner first.",
  role_not_assignable: "You cannot give that role: only owners make owners, admins give roles up to admin.",
  forbidden: "You cannot manage this person: their role is as high as yours.",
  user_not_found: "This person no longer exists.",
  email_not_configured: "This server cannot send email. Make a temporary password instead.",
  mail_failed: "The email could not be sent. Try again later, or make a temporary password.",
};

function ago(days) {
  return new Date(Date.now() - days * DAY_MS).toISOString();
}

export function inWords(error) {
  return WORDS[error?.code] ?? error?.message ?? String(error);
}

// Throws the server's refusal in words, for the dialogs that say `error.message`.
async function worded(promise) {
  try {
    return await promise;
  } catch (error) {
    throw new Error(inWords(error));
  }
}

function listUsers({ q, role, active, seen }, cursor) {
  return call(
    withQuery("/api/admin/users", {
      q: q || null,
      role: role || null,
      active: active || null,
      ...SEEN[seen][1](),
      cursor,
      limit: PAGE,
    }),
  );
}

function act(id, what, body) {
  return call(`/api/admin/users/${id}/${what}`, { method: "POST", body });
}

// Owners manage everyone; admins those below them (auth/rbac.py decides, this only leaves
// out what it would refuse).
function manages(me, person) {
  return me.role === "owner" || RANK.indexOf(me.role) > RANK.indexOf(person.role);
}

function Filters({ filters, onChange }) {
  const [q, setQ] = useTypedQuery(filters, onChange);
  const set = (name) => (event) => onChange({ ...filters, [name]: event.currentTarget.value });
  return html`<form class="admin-filters" role="search" aria-label="People" onSubmit=${(e) => e.preventDefault()}>
    <div class="field">
      <label for="admin-users-q">Search</label>
      <input id="admin-users-q" type="search" autocomplete="off" value=${q} maxlength="100"
        placeholder="Name, username or email" onInput=${(e) => setQ(e.currentTarget.value)} />
    </div>
    <div class="field">
      <label for="admin-users-role">Role</label>
      <select id="admin-users-role" value=${filters.role} onChange=${set("role")}>
        <option value="">Any role</option>
        ${RANK.map((role) => html`<option key=${role} value=${role}>${ROLE_LABELS[role]}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="admin-users-active">State</label>
      <select id="admin-users-active" value=${filters.active} onChange=${set("active")}>
        <option value="">Active and deactivated</option>
        <option value="true">Active</option>
        <option value="false">Deactivated</option>
      </select>
    </div>
    <div class="field">
      <label for="admin-users-seen">Last seen</label>
      <select id="admin-users-seen" value=${filters.seen} onChange=${set("seen")}>
        ${Object.entries(SEEN).map(([value, [label]]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select>
    </div>
  </form>`;
}

// A new account; then what to hand over, once.
function CreateDialog({ onCreated, onClose }) {
  const { busy, saved, fields, general, onSubmit } = useSave(async (values) => {
    const made = await addPerson(values);
    onCreated(made.person);
    return made;
  }, FIELD_OF_CODE);
  const lead = useRef(null);
  useEffect(() => saved && lead.current?.focus(), [saved]);

  return html`<${Dialog} title="New account" className="add-person admin-dialog" onClose=${onClose}>
    ${saved
      ? html`<p class="added-lead" tabindex="-1" ref=${lead}><strong>${saved.person.name}</strong> can sign in now
            as <strong>${saved.person.username}</strong>. Pass the password on by a way only they read:</p>
          <p><code class="admin-secret">${saved.password}</code></p>
          <div class="copy-row"><${CopyButton} text=${saved.password} label="Copy" name="Copy the password" /></div>
          <div class="dialog-actions"><button type="button" onClick=${onClose}>Done</button></div>`
      : html`<form method="post" onSubmit=${onSubmit} aria-busy=${busy}>
          ${general && html`<p class="form-error" role="alert">${inWords(general)}</p>`}
          <${Field} label="Email" name="email" type="email" autocomplete="off" autofocus=${true}
            maxLength=${254} error=${fields.email} />
          <${Field} label="Username" name="username" autocomplete="off" maxLength=${32}
            hint="What they sign in with: lower-case letters, digits, . _ and -." error=${fields.username} />
          <${Field} label="Display name" name="display_name" autocomplete="off" required=${false}
            maxLength=${80} error=${fields.display_name} />
          <${RoleField} roles=${grantableRoles(user.value.role)} error=${fields.role} />
          <${PasswordField} error=${fields.password} />
          <div class="dialog-actions">
            <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
            <button type="submit" disabled=${busy}>${busy ? "Creating…" : "Create account"}</button>
          </div>
        </form>`}
  </${Dialog}>`;
}

function RoleDialog({ person, onDone, onClose }) {
  const [state, setState] = useState({ busy: false, error: null });
  async function submit(event) {
    event.preventDefault();
    const role = new FormData(event.currentTarget).get("role");
    setState({ busy: true, error: null });
    try {
      onDone(await act(person.id, "role", { role }), `${person.name} is now ${ROLE_LABELS[role].toLowerCase()}.`);
      onClose();
    } catch (error) {
      setState({ busy: false, error: inWords(error) });
    }
  }
  return html`<${Dialog} title=${`Role of ${person.name}`} className="add-person admin-dialog" onClose=${onClose}>
    <form onSubmit=${submit}>
      <${RoleField} roles=${grantableRoles(user.value.role)} initial=${person.role} />
      ${state.error && html`<p class="form-error" role="alert">${state.error}</p>`}
      <div class="dialog-actions">
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
        <button type="submit" disabled=${state.busy}>${state.busy ? "Saving…" : "Change role"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

// By email (a link that works once, for an hour) or a temporary password shown here once.
function ResetDialog({ person, onDone, onClose }) {
  const [state, setState] = useState({ busy: false, error: null, result: null });
  const name = useId();
  const said = useRef(null);
  useEffect(() => state.result && said.current?.focus(), [state.result]);
  async function submit(event) {
    event.preventDefault();
    const method = new FormData(event.currentTarget).get("method");
    setState({ busy: true, error: null, result: null });
    try {
      const result = await act(person.id, "reset-password", { method });
      setState({ busy: false, error: null, result });
      onDone(await call(`/api/admin/users/${person.id}`), "");
    } catch (error) {
      setState((now) => (now.result ? now : { busy: false, error: inWords(error), result: null }));
    }
  }
  const { result } = state;
  if (result) {
    const ended = result.sessions_ended ? ` ${plural(result.sessions_ended, "session")} ended.` : "";
    return html`<${Dialog} title=${`Password of ${person.name}`} className="add-person admin-dialog" onClose=${onClose}>
      ${result.method === "temporary_password"
        ? html`<p class="added-lead" tabindex="-1" ref=${said}>The temporary password of${" "}
              <strong>${person.username}</strong>, shown this once.${ended} Pass it on by a way only
              they read; they can change it under Profile and settings.</p>
            <p><code class="admin-secret">${result.temporary_password}</code></p>
            <div class="copy-row"><${CopyButton} text=${result.temporary_password} label="Copy"
              name="Copy the temporary password" /></div>`
        : html`<p class="added-lead" tabindex="-1" ref=${said}>An email with a link to choose a new
            password was sent to ${person.email}. It works once, until ${fullTime(result.expires_at)}.</p>`}
      <div class="dialog-actions"><button type="button" onClick=${onClose}>Done</button></div>
    </${Dialog}>`;
  }
  return html`<${Dialog} title=${`Reset the password of ${person.name}`} className="admin-dialog" onClose=${onClose}>
    <form onSubmit=${submit}>
      <fieldset class="field">
        <legend>How</legend>
        <label class="choice"><input type="radio" name="method" value="temporary_password" checked />
          A temporary password, shown here once: their sessions end now.</label>
        <label class="choice"><input type="radio" name="method" value="email" />
          An email to ${person.email} with a link to choose one (works once, for an hour).</label>
      </fieldset>
      ${state.error && html`<p class="form-error" role="alert">${state.error}</p>`}
      <div class="dialog-actions">
        <button type="button" class="secondary" autofocus onClick=${onClose}>Cancel</button>
        <button type="submit" disabled=${state.busy}>${state.busy ? "Working…" : "Reset password"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

function DeleteDialog({ person, onDone, onClose }) {
  const [state, setState] = useState({ busy: false, error: null });
  async function submit(event) {
    event.preventDefault();
    const anonymise = new FormData(event.currentTarget).get("how") === "anonymise";
    setState({ busy: true, error: null });
    try {
      await call(withQuery(`/api/admin/users/${person.id}`, { anonymise: anonymise || null }), {
        method: "DELETE",
      });
      onDone(null, `${person.name}’s account is deleted${anonymise ? " and anonymised" : ""}.`);
      onClose();
    } catch (error) {
      setState({ busy: false, error: inWords(error) });
    }
  }
  return html`<${Dialog} title=${`Delete ${person.name}`} className="admin-dialog" onClose=${onClose}>
    <form onSubmit=${submit}>
      <p>They can no longer sign in, and every session ends. This cannot be undone.</p>
      <fieldset class="field">
        <legend>Their name and details</legend>
        <label class="choice"><input type="radio" name="how" value="keep" checked />
          Keep: their messages still show their name.</label>
        <label class="choice"><input type="radio" name="how" value="anonymise" />
          Anonymise: their name, email, picture and status are erased; their messages stay,
          from “Deleted user”, and the email and username are free again.</label>
      </fieldset>
      ${state.error && html`<p class="form-error" role="alert">${state.error}</p>`}
      <div class="dialog-actions">
        <button type="button" class="secondary" autofocus onClick=${onClose}>Cancel</button>
        <button type="submit" class="danger" disabled=${state.busy}>${state.busy ? "Deleting…" : "Delete account"}</button>
      </div>
    </form>
  </${Dialog}>`;
}

// What a plain confirmation says and does, for the actions that need no choice.
function confirmation(action, person) {
  if (action === "deactivate") {
    return {
      title: `Deactivate ${person.name}?`,
      body: "They are signed out everywhere at once and cannot sign in until reactivated. Their messages stay.",
      confirmLabel: "Deactivate",
      danger: true,
      run: () => act(person.id, "deactivate"),
      done: `${person.name} is deactivated.`,
    };
  }
  if (action === "reactivate") {
    return {
      title: `Reactivate ${person.name}?`,
      body: "They can sign in again with their password.",
      confirmLabel: "Reactivate",
      run: () => act(person.id, "reactivate"),
      done: `${person.name} is active again.`,
    };
  }
  return {
    title: `End all sessions of ${person.name}?`,
    body: "They are signed out on every device and have to sign in again.",
    confirmLabel: "End sessions",
    danger: true,
    run: async () => {
      const { sessions_ended: ended } = await act(person.id, "revoke-sessions");
      return [await call(`/api/admin/users/${person.id}`), plural(ended, "session")];
    },
    done: null,
  };
}

function Row({ person, me, onAction }) {
  const self = person.id === me.id;
  const items = [
    { label: "Change role…", onSelect: () => onAction("role", person) },
    person.is_active
      ? { label: "Deactivate…", onSelect: () => onAction("deactivate", person) }
      : { label: "Reactivate…", onSelect: () => onAction("reactivate", person) },
    { label: "End all sessions…", onSelect: () => onAction("sessions", person) },
    { label: "Reset password…", onSelect: () => onAction("reset", person) },
    { label: "Delete…", onSelect: () => onAction("delete", person), danger: true },
  ];
  let actions = html`<${MenuButton} label=${`Actions for ${person.name}`} items=${items} />`;
  if (self) actions = html`<span class="muted">Yours: see Profile and settings</span>`;
  else if (!manages(me, person)) actions = html`<span class="muted">Same role as yours or higher</span>`;
  return html`<tr class=${person.is_active ? "" : "inactive"}>
    <th scope="row" data-label="Name">
      <span class="admin-name">${person.name}${self && html` <span class="admin-you">(you)</span>`}</span>
      <span class="muted admin-detail">@${person.username} · ${person.email}</span>
    </th>
    <td data-label="Role">${ROLE_LABELS[person.role] ?? person.role}</td>
    <td data-label="State">${person.is_active ? "Active" : html`<strong>Deactivated</strong>`}</td>
    <td data-label="Last seen">${person.last_seen_at
      ? html`<time datetime=${person.last_seen_at}>${fullTime(person.last_seen_at)}</time>`
      : html`<span class="muted">Never</span>`}</td>
    <td data-label="Sessions">${person.session_count}</td>
    <td data-label="Actions">${actions}</td>
  </tr>`;
}

const NO_FILTERS = { q: "", role: "", active: "", seen: "" };

export function AdminUsers() {
  const me = user.value;
  const [filters, setFilters] = useState(NO_FILTERS);
  const { list, setList, error, loadingMore, more } = usePages(listUsers, filters, "users", inWords);
  const [open, setOpen] = useState(null); // {action, person}
  const [said, setSaid] = useState("");

  // The server's answer replaces the row (null: the account is gone).
  function changed(id, fresh, message) {
    setList((now) => ({
      ...now,
      users: fresh ? now.users.map((u) => (u.id === id ? fresh : u)) : now.users.filter((u) => u.id !== id),
    }));
    if (message) setSaid(message);
  }

  const close = () => setOpen(null);
  const person = open?.person;
  const done = (fresh, message) => changed(person.id, fresh, message);
  let dialog = null;
  if (open?.action === "create") {
    dialog = html`<${CreateDialog} onClose=${close} onCreated=${(made) => {
      setSaid(`${made.name}’s account is created.`);
      setFilters({ ...NO_FILTERS });
    }} />`;
  } else if (open?.action === "role") {
    dialog = html`<${RoleDialog} person=${person} onDone=${done} onClose=${close} />`;
  } else if (open?.action === "reset") {
    dialog = html`<${ResetDialog} person=${person} onDone=${done} onClose=${close} />`;
  } else if (open?.action === "delete") {
    dialog = html`<${DeleteDialog} person=${person} onDone=${done} onClose=${close} />`;
  } else if (open) {
    const { run, done: message, ...shown } = confirmation(open.action, person);
    dialog = html`<${ConfirmAction} ...${shown} onClose=${close} onConfirm=${async () => {
      const answer = await worded(run());
      if (Array.isArray(answer)) changed(person.id, answer[0], `${person.name}: ${answer[1]} ended.`);
      else changed(person.id, answer, message);
    }} />`;
  }

  const rows = list?.users ?? [];
  return html`<section class="admin-section admin-users" aria-labelledby="admin-users-title">
    <div class="admin-section-head">
      <h2 id="admin-users-title">Users</h2>
      <button type="button" onClick=${() => setOpen({ action: "create" })}>New account</button>
    </div>
    <${Filters} filters=${filters} onChange=${setFilters} />
    <p class="admin-said" role="status">${said}</p>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    <div class="admin-table-wrap" aria-busy=${list === null ? "true" : "false"}>
      ${list === null
        ? !error && html`<p class="muted">Loading…</p>`
        : rows.length === 0
          ? html`<p class="muted">Nobody matches.</p>`
          : html`<table class="admin-table">
              <caption class="visually-hidden">People</caption>
              <thead><tr>
                <th scope="col">Name</th><th scope="col">Role</th><th scope="col">State</th>
                <th scope="col">Last seen</th><th scope="col">Sessions</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr></thead>
              <tbody>${rows.map((u) => html`<${Row} key=${u.id} person=${u} me=${me}
                onAction=${(action, target) => setOpen({ action, person: target })} />`)}</tbody>
            </table>`}
    </div>
    ${list?.next_cursor &&
    html`<button type="button" class="secondary admin-more" disabled=${loadingMore} onClick=${more}>
      ${loadingMore ? "Loading…" : "Load more"}</button>`}
    ${dialog}
  </section>`;
}
