// Administration, Settings: the app configuration an admin changes (name and look, features,
// files, the mobile apps), each part a form of its own, saved with PATCH /api/admin/config.
// The server checks every value: what it refuses is said at the field it names
// ("features.search"). Below, the History: each version, who made it and what it changed,
// and any earlier one restored as a new version.
//
// The logo (branding.logo_file_id) is not offered: nothing in the client shows it yet, and an
// upload no message carries is readable by its uploader alone.
import { ApiError } from "../../api.js";
import { configUpdated } from "../../events.js";
import { fullTime, plural } from "../../format.js";
import { html, useEffect, useId, useState } from "../../lib/html.js";
import { nameOf } from "../../people.js";
import { call } from "../../session.js";
import { useSave } from "../../components/use-save.js";
import { ConfirmAction } from "./confirm-action.js";

const MB = 1024 * 1024;
const HISTORY_PAGE = 20;
const MODES = { system: "System", light: "Light", dark: "Dark" };

// The forms: each field by its path in the configuration, as the server's errors name it.
const FORMS = [
  {
    id: "look",
    title: "Name and look",
    fields: [
      { path: "branding.app_name", label: "Workspace name", kind: "text", maxLength: 80,
        hint: "Shown in the channel list, on the sign-in page and in the browser’s title." },
      { path: "theme.accent", label: "Accent colour", kind: "colour", hint: "Buttons, links and highlights." },
      { path: "theme.mode", label: "Default theme", kind: "choice", options: MODES,
        hint: "For people who have not chosen one in their settings." },
    ],
  },
  {
    id: "features",
    title: "Features",
    fields: [
      { path: "features.signup_open", label: "Anyone may sign up", kind: "switch",
        hint: "Off: only admins add people." },
      { path: "features.file_uploads", label: "File uploads", kind: "switch" },
      { path: "features.search", label: "Search", kind: "switch" },
      { path: "features.push", label: "Push notifications", kind: "switch" },
      { path: "features.email", label: "Email notifications", kind: "switch" },
    ],
  },
  {
    id: "files",
    title: "Files",
    fields: [{ path: "files.max_upload_bytes", label: "Largest upload (MB)", kind: "mb", hint: "Per file." }],
  },
  {
    id: "mobile",
    title: "Mobile apps",
    fields: [
      { path: "mobile.offlineCache.enabled", label: "Keep messages for offline reading", kind: "switch" },
      { path: "mobile.offlineCache.maxMessages", label: "Messages kept offline", kind: "number",
        hint: "At most 100,000 per device." },
      { path: "mobile.offlineCache.maxMediaSize", label: "Media kept offline (MB)", kind: "mb" },
      { path: "mobile.backgroundSync.enabled", label: "Sync in the background", kind: "switch" },
      { path: "mobile.backgroundSync.interval", label: "Background sync every (minutes)", kind: "number",
        hint: "1 to 1,440." },
    ],
  },
];

export const LABELS = Object.fromEntries(FORMS.flatMap((f) => f.fields.map((x) => [x.path, x.label])));

export function valueAt(config, path) {
  return path.split(".").reduce((node, key) => node?.[key], config);
}

function setAt(target, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  let node = target;
  for (const key of keys) node = node[key] ??= {};
  node[last] = value;
}

// What a number field holds: a number, or the text as typed so the server names what is
// wrong with it (an empty or unreadable field is not quietly a default).
function number(text, scale = 1) {
  const trimmed = String(text ?? "").trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return trimmed;
  return Math.round(Number(trimmed) * scale);
}

// The PATCH body of one form: its fields, each at its path.
export function bodyOf(form, fields) {
  const body = {};
  for (const field of fields) {
    const input = form.elements.namedItem(field.path);
    let value;
    if (field.kind === "switch") value = input.checked;
    else if (field.kind === "number") value = number(input.value);
    else if (field.kind === "mb") value = number(input.value, MB);
    else value = input.value;
    setAt(body, field.path, value);
  }
  return body;
}

function megabytes(bytes) {
  return String(Math.round((bytes / MB) * 100) / 100);
}

export function getConfig() {
  return call("/api/admin/config");
}

export function patchConfig(body) {
  return call("/api/admin/config", { method: "PATCH", body });
}

export function configHistory(before = null) {
  const query = before ? `?limit=${HISTORY_PAGE}&before=${before}` : `?limit=${HISTORY_PAGE}`;
  return call(`/api/admin/config/history${query}`);
}

export function restoreVersion(version) {
  return call(`/api/admin/config/history/${version}/restore`, { method: "POST" });
}

function Input({ field, config, error }) {
  const id = useId();
  const initial = valueAt(config, field.path);
  const [colour, setColour] = useState(initial);
  const hintId = field.hint ? `${id}-hint` : null;
  const errorId = error ? `${id}-error` : null;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  const invalid = error ? "true" : undefined;
  const hint = field.hint && html`<p class="hint" id=${hintId}>${field.hint}</p>`;
  const problem = error && html`<p class="field-error" id=${errorId}>${error}</p>`;

  if (field.kind === "switch") {
    return html`<div class="field admin-switch">
      <input id=${id} type="checkbox" name=${field.path} defaultChecked=${Boolean(initial)}
        aria-invalid=${invalid} aria-describedby=${describedBy} />
      <label for=${id}>${field.label}</label>
      ${hint}${problem}
    </div>`;
  }
  if (field.kind === "choice") {
    return html`<fieldset class="field admin-choice" aria-describedby=${describedBy}>
      <legend>${field.label}</legend>
      ${Object.entries(field.options).map(
        ([value, label]) => html`<label key=${value} class="choice">
          <input type="radio" name=${field.path} value=${value} defaultChecked=${initial === value}
            aria-invalid=${invalid} /> ${label}
        </label>`,
      )}
      ${hint}${problem}
    </fieldset>`;
  }
  if (field.kind === "colour") {
    return html`<div class="field admin-colour">
      <label for=${id}>${field.label}</label>
      <span class="admin-colour-row">
        <input id=${id} type="color" name=${field.path} defaultValue=${initial}
          aria-invalid=${invalid} aria-describedby=${describedBy}
          onInput=${(e) => setColour(e.currentTarget.value)} />
        <code aria-hidden="true">${colour}</code>
      </span>
      ${hint}${problem}
    </div>`;
  }
  const numeric = field.kind === "number" || field.kind === "mb";
  return html`<div class="field">
    <label for=${id}>${field.label}</label>
    <input id=${id} name=${field.path} type="text" autocomplete="off"
      inputmode=${numeric ? (field.kind === "mb" ? "decimal" : "numeric") : undefined}
      class=${numeric ? "admin-number" : undefined}
      maxlength=${field.maxLength} defaultValue=${field.kind === "mb" ? megabytes(initial) : initial}
      aria-invalid=${invalid} aria-describedby=${describedBy} />
    ${hint}${problem}
  </div>`;
}

function SectionForm({ form, config, onSaved }) {
  const { busy, saved, fields, general, onSubmit } = useSave(async (_values, element) => {
    const fresh = await patchConfig(bodyOf(element, form.fields));
    onSaved(fresh);
    return true;
  });
  const titleId = `admin-config-${form.id}`;
  // Errors the server named at a path no field here shows are said above the form.
  const stray = Object.entries(fields).filter(([path]) => !form.fields.some((f) => f.path === path));
  return html`<section class="admin-config-part" aria-labelledby=${titleId}>
    <h3 id=${titleId}>${form.title}</h3>
    <form noValidate onSubmit=${onSubmit} aria-busy=${busy ? "true" : "false"}>
      ${general && html`<p class="form-error" role="alert">${general.message}</p>`}
      ${stray.length > 0 &&
      html`<p class="form-error" role="alert">${stray.map(([path, msg]) => `${path}: ${msg}`).join("; ")}</p>`}
      ${form.fields.map((field) => html`<${Input} key=${field.path} field=${field} config=${config} error=${fields[field.path]} />`)}
      ${Object.keys(fields).length > 0 &&
      html`<p class="visually-hidden" role="alert">${form.title} not saved: see the fields marked.</p>`}
      <div class="settings-actions">
        <button type="submit" disabled=${busy}>${busy ? "Saving…" : `Save ${form.title.toLowerCase()}`}</button>
        <p class="settings-done" role="status">${saved ? "Saved." : ""}</p>
      </div>
    </form>
  </section>`;
}

function shown(value, path) {
  if (value === null || value === undefined) return "default";
  if (typeof value === "boolean") return value ? "on" : "off";
  if (/max_upload_bytes$|maxMediaSize$/.test(path) && typeof value === "number") return `${megabytes(value)} MB`;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function Change({ path, change }) {
  return html`<li><span class="admin-path">${LABELS[path] ?? path}</span>: ${shown(change.before, path)} → ${shown(change.after, path)}</li>`;
}

function Version({ version, current, onRestore }) {
  const changes = Object.entries(version.changes ?? {});
  const what = version.action === "restore" && version.restored_from
    ? `Restored version ${version.restored_from}`
    : version.action === "update" ? "Changed" : version.action[0].toUpperCase() + version.action.slice(1);
  return html`<li class="admin-version">
    <div class="admin-version-head">
      <span class="admin-version-name">Version ${version.version}${current ? " (current)" : ""}</span>
      <span class="muted"><time datetime=${version.changed_at}>${fullTime(version.changed_at)}</time>,
        ${version.actor_id ? nameOf(version.actor_id) : "nchat"}</span>
      ${!current &&
      html`<button type="button" class="secondary small" aria-label=${`Restore version ${version.version}`}
        onClick=${() => onRestore(version)}>Restore</button>`}
    </div>
    <p class="admin-version-what">${what}${changes.length ? `: ${plural(changes.length, "setting")}` : ""}</p>
    ${changes.length > 0 && html`<ul class="admin-changes">${changes.map(([path, change]) => html`<${Change} key=${path} path=${path} change=${change} />`)}</ul>`}
  </li>`;
}

function History({ refreshed, onRestored }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [restoring, setRestoring] = useState(null);
  const [loadingMore, setLoadingMore] = useState(false);

  useEffect(() => {
    let current = true;
    configHistory().then(
      (page) => current && (setList(page), setError(null)),
      (caught) => current && setError(caught.message),
    );
    return () => {
      current = false;
    };
  }, [refreshed]);

  async function more() {
    setLoadingMore(true);
    try {
      const page = await configHistory(list.next_before);
      setList((now) => ({ versions: [...now.versions, ...page.versions], next_before: page.next_before }));
    } catch (caught) {
      setError(caught.message);
    } finally {
      setLoadingMore(false);
    }
  }

  const versions = list?.versions ?? [];
  const newest = versions[0]?.version;
  return html`<section class="admin-config-part admin-history" aria-labelledby="admin-config-history">
    <h3 id="admin-config-history">History</h3>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    <div aria-busy=${list === null ? "true" : "false"}>
      ${list === null
        ? !error && html`<p class="muted">Loading…</p>`
        : versions.length === 0
          ? html`<p class="muted">The settings have not been changed yet.</p>`
          : html`<ol class="admin-versions">
              ${versions.map((v) => html`<${Version} key=${v.version} version=${v} current=${v.version === newest}
                onRestore=${setRestoring} />`)}
            </ol>`}
    </div>
    ${list?.next_before &&
    html`<button type="button" class="secondary admin-more" disabled=${loadingMore} onClick=${more}>
      ${loadingMore ? "Loading…" : "Load more"}</button>`}
    ${restoring &&
    html`<${ConfirmAction}
      title=${`Restore version ${restoring.version}?`}
      body=${`Every setting becomes what it was at version ${restoring.version}; this is saved as a new version, so it can be undone the same way.`}
      confirmLabel="Restore"
      onClose=${() => setRestoring(null)}
      onConfirm=${async () => onRestored(await restoreVersion(restoring.version), restoring.version)} />`}
  </section>`;
}

export function AdminConfig() {
  const [config, setConfig] = useState(null);
  const [error, setError] = useState(null);
  // Bumped on every change: the history is read again; on a restore the forms are drawn anew.
  const [changes, setChanges] = useState(0);
  const [drawn, setDrawn] = useState(0);
  const [said, setSaid] = useState("");

  useEffect(() => {
    getConfig().then(setConfig, (caught) =>
      setError(caught instanceof ApiError ? caught.message : String(caught)),
    );
  }, []);

  function saved(fresh) {
    setConfig(fresh);
    setChanges((n) => n + 1);
    setSaid("");
    configUpdated(); // this tab shows the new name and look at once
  }

  function restored(fresh, version) {
    saved(fresh);
    setDrawn((n) => n + 1);
    setSaid(`Version ${version} restored.`);
  }

  return html`<section class="admin-section admin-config" aria-labelledby="admin-config-title">
    <h2 id="admin-config-title">Settings</h2>
    <p class="hint">What everyone in the workspace gets. Each change is kept in the history below.</p>
    <p class="admin-said" role="status">${said}</p>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    ${config === null
      ? !error && html`<p class="muted" role="status">Loading…</p>`
      : html`<div class="admin-config-forms" key=${drawn}>
          ${FORMS.map((form) => html`<${SectionForm} key=${form.id} form=${form} config=${config} onSaved=${saved} />`)}
        </div>
        <${History} refreshed=${changes} onRestored=${restored} />`}
  </section>`;
}
