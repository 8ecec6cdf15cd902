// "Add a person": an owner or admin makes an account for a colleague (POST /api/users) with
// an initial password, then passes on where and how to sign in; a DM with them is a click
// away. There is no invitation by email: the admin hands the details over themselves.
import { openDirect } from "../channels.js";
import { html, useEffect, useId, useRef, useState } from "../lib/html.js";
import { showChannel } from "../navigation.js";
import { learn } from "../people.js";
import { call } from "../session.js";
import { appConfig, user } from "../store.js";
import { closeDialog, Dialog } from "./dialog.js";
import { Field } from "./field.js";
import { FormError } from "./form-error.js";
import { useSave } from "./use-save.js";

// Lowest first, as in auth/rbac.py. Owners grant every role, admins those up to their own;
// the server decides, this only leaves out what it would refuse.
const ROLES = ["guest", "member", "moderator", "admin", "owner"];
export const ROLE_LABELS = { guest: "Guest", member: "Member", moderator: "Moderator", admin: "Admin", owner: "Owner" };
export const ROLE_HINTS = {
  guest: "Sees only the channels and conversations they are added to.",
  member: "Joins and creates channels, starts conversations.",
  moderator: "A member who can also remove any message and manage channel members.",
  admin: "Can also add and manage people and change the workspace's settings.",
  owner: "Can do everything, including managing other owners.",
};
const FIELD_OF_CODE = {
  username_taken: "username",
  email_taken: "email",
  password_too_short: "password",
  role_not_assignable: "role",
};
// No i, l, o, 0 or 1: a password read out or copied by hand has no look-alikes.
const ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";
const GROUPS = 4;
const GROUP_SIZE = 5; // 20 characters of 31: about 99 bits

export function grantableRoles(role) {
  if (role === "owner") return ROLES;
  if (role === "admin") return ROLES.slice(0, ROLES.indexOf("admin") + 1);
  return [];
}

export function canAddPeople(role) {
  return grantableRoles(role).length > 0;
}

export function generatePassword() {
  const size = GROUPS * GROUP_SIZE;
  // Bytes past the last whole multiple of the alphabet are dropped, so no letter is likelier.
  const limit = 256 - (256 % ALPHABET.length);
  const chars = [];
  while (chars.length < size) {
    for (const byte of crypto.getRandomValues(new Uint8Array(size * 2))) {
      if (byte < limit && chars.length < size) chars.push(ALPHABET[byte % ALPHABET.length]);
    }
  }
  const groups = [];
  for (let i = 0; i < size; i += GROUP_SIZE) groups.push(chars.slice(i, i + GROUP_SIZE).join(""));
  return groups.join("-");
}

// A new account from the form's values; the person is known to the client from then on.
export async function addPerson(values) {
  const person = await call("/api/users", {
    method: "POST",
    body: {
      email: values.email.trim(),
      username: values.username.trim(),
      display_name: values.display_name.trim() || null,
      role: values.role,
      password: values.password,
    },
  });
  learn([person]);
  return { person, password: values.password };
}

// Copies `text` (navigator.clipboard exists only on https and localhost) and says so.
export function CopyButton({ text, label, name }) {
  const [said, setSaid] = useState("");
  // "Copied." would be wrong once the text changed.
  useEffect(() => setSaid(""), [text]);
  if (!navigator.clipboard) return null;
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setSaid("Copied.");
    } catch {
      setSaid("Could not copy: select the text and copy it.");
    }
  }
  return html`<button type="button" class="secondary small" aria-label=${name} onClick=${copy}>${label}</button>
    <span class="copy-status" role="status">${said}</span>`;
}

export function RoleField({ roles, error, initial = "member" }) {
  const [role, setRole] = useState(initial);
  const id = useId();
  const errorId = error ? `${id}-error` : null;
  return html`<div class="field">
    <label for=${id}>Role</label>
    <select id=${id} name="role" value=${role} onChange=${(e) => setRole(e.currentTarget.value)}
      aria-invalid=${error ? "true" : undefined} aria-describedby=${[`${id}-hint`, errorId].filter(Boolean).join(" ")}>
      ${roles.map((r) => html`<option key=${r} value=${r}>${ROLE_LABELS[r]}</option>`)}
    </select>
    <p class="hint" id=${`${id}-hint`}>${ROLE_HINTS[role]}</p>
    ${error && html`<p class="field-error" id=${errorId}>${error}</p>`}
  </div>`;
}

// A text field, not a password one: the admin reads it to pass it on, and the browser must
// not offer to save it as the admin's own.
export function PasswordField({ error }) {
  const [password, setPassword] = useState("");
  const id = useId();
  const errorId = error ? `${id}-error` : null;
  return html`<div class="field">
    <label for=${id}>Initial password</label>
    <input id=${id} name="password" type="text" required autocomplete="off" spellcheck="false"
      autocapitalize="off" value=${password} onInput=${(e) => setPassword(e.currentTarget.value)}
      aria-invalid=${error ? "true" : undefined} aria-describedby=${[`${id}-hint`, errorId].filter(Boolean).join(" ")} />
    <div class="copy-row">
      <button type="button" class="secondary small" onClick=${() => setPassword(generatePassword())}>Generate</button>
      ${password && html`<${CopyButton} text=${password} label="Copy" name="Copy the password" />`}
    </div>
    <p class="hint" id=${`${id}-hint`}>They can change it under Profile and settings once signed in.</p>
    ${error && html`<p class="field-error" id=${errorId}>${error}</p>`}
  </div>`;
}

function Added({ person, password, onAnother }) {
  const ref = useRef(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // The form and its focused button are gone: focus goes to what replaced them.
  useEffect(() => ref.current.focus(), []);

  async function message() {
    setBusy(true);
    try {
      const channel = await openDirect([person.id]);
      closeDialog();
      showChannel(channel.id);
    } catch (caught) {
      setBusy(false);
      setError(caught);
    }
  }

  const address = location.origin;
  const workspace = appConfig.value?.app_name || "nchat";
  const note = `Your account on ${workspace} is ready.\nAddress: ${address}\nUsername: ${person.username}\nPassword: ${password}`;
  return html`<div class="added">
    <p class="added-lead" tabindex="-1" ref=${ref}>
      <strong>${person.name}</strong> can sign in now. Send them these, by a way only they read:
    </p>
    <dl class="handover">
      <dt>Address</dt><dd>${address}</dd>
      <dt>Username</dt><dd>${person.username}</dd>
      <dt>Password</dt><dd><code>${password}</code></dd>
    </dl>
    <div class="copy-row"><${CopyButton} text=${note} label="Copy all three" name="Copy address, username and password" /></div>
    <${FormError} error=${error} />
    <div class="dialog-actions">
      <button type="button" class="secondary" onClick=${onAnother}>Add another</button>
      <button type="button" class="secondary" onClick=${closeDialog}>Done</button>
      <button type="button" disabled=${busy} onClick=${message}>${busy ? "Opening…" : `Message ${person.name}`}</button>
    </div>
  </div>`;
}

function AddPerson({ again, onAnother }) {
  const form = useRef(null);
  const { busy, saved, fields, general, onSubmit } = useSave(addPerson, FIELD_OF_CODE);
  // A dialog focuses its autofocus field only when it opens; the next person's form asks.
  useEffect(() => {
    if (again) form.current.querySelector("input").focus();
  }, []);

  if (saved) return html`<${Added} ...${saved} onAnother=${onAnother} />`;
  return html`<form method="post" ref=${form} onSubmit=${onSubmit} aria-busy=${busy}>
    <${FormError} error=${general} />
    <${Field} label="Email" name="email" type="email" autocomplete="off" autofocus=${true}
      maxLength=${254} error=${fields.email} />
    <${Field} label="Username" name="username" autocomplete="off" maxLength=${32}
      hint="What they sign in with: lower-case letters, digits, . _ and -." error=${fields.username} />
    <${Field} label="Display name" name="display_name" autocomplete="off" required=${false}
      maxLength=${80} hint="Empty shows the username." error=${fields.display_name} />
    <${RoleField} roles=${grantableRoles(user.value.role)} error=${fields.role} />
    <${PasswordField} error=${fields.password} />
    <div class="dialog-actions">
      <button type="button" class="secondary" onClick=${closeDialog}>Cancel</button>
      <button type="submit" disabled=${busy}>${busy ? "Adding…" : "Add person"}</button>
    </div>
  </form>`;
}

export function AddPersonDialog() {
  // A new key per person: the next form starts empty, with nothing said about the last one.
  const [round, setRound] = useState(0);
  return html`<${Dialog} title="Add a person" className="add-person">
    <${AddPerson} key=${round} again=${round > 0} onAnother=${() => setRound((n) => n + 1)} />
  </${Dialog}>`;
}
