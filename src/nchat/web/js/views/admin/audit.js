// Administration, Audit log: who changed what, newest first, filtered by action, actor and
// days, a page at a time; each entry's details summarised, the whole of them on demand; and
// the filtered log downloaded as CSV or JSON Lines (fetched with the token, then saved: the
// export's URL alone would be refused, and a token never goes into a URL).
import { withQuery } from "../../api.js";
import { fullTime } from "../../format.js";
import { html, useState } from "../../lib/html.js";
import { nameOf, searchPeople } from "../../people.js";
import { call } from "../../session.js";
import { usePages } from "./filters.js";

const PAGE = 50;
const SAVED_URL_MS = 60_000;
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
// What people filter by most; any other action (or a prefix ending in ".") may be typed.
const KNOWN_ACTIONS = [
  "channel.",
  "channel.archived",
  "channel.unarchived",
  "channel.deleted",
  "channel.owner_changed",
  "channel.visibility_changed",
  "config.",
  "config.updated",
  "config.restored",
  "user.",
  "maintenance.",
  "audit.exported",
];

// A local calendar day ("2026-03-02") as the instant it starts, in UTC for the server.
function dayStart(day, plusDays = 0) {
  if (!day) return null;
  const at = new Date(`${day}T00:00:00`);
  at.setDate(at.getDate() + plusDays);
  return at.toISOString();
}

// The API's filters from the form's: `until` is the day after the last one asked for.
export function auditParams(filters) {
  return {
    action: filters.action || null,
    actor_id: filters.actorId || null,
    since: dayStart(filters.since),
    until: dayStart(filters.until, 1),
  };
}

export function listAudit(filters, cursor = null) {
  return call(withQuery("/api/admin/audit", { ...auditParams(filters), cursor, limit: PAGE }));
}

function stamp(now = new Date()) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

// Download the filtered log and hand it to the browser as a file.
export async function exportAudit(filters, format) {
  const blob = await call(withQuery("/api/admin/audit/export", { ...auditParams(filters), format }), {
    as: "blob",
  });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = `nchat-audit-${stamp()}.${format}`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), SAVED_URL_MS);
}

function shown(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A line or two of what changed: "archived: false → true", "features.search: true → false".
export function summary(entry) {
  const d = entry.details ?? {};
  const parts = [];
  if (d.changes && typeof d.changes === "object") {
    for (const [path, change] of Object.entries(d.changes)) {
      parts.push(`${path}: ${shown(change?.before)} → ${shown(change?.after)}`);
    }
    if (d.restored_from) parts.unshift(`restored version ${d.restored_from}`);
  } else if (d.before || d.after) {
    const before = d.before ?? {};
    const after = d.after ?? {};
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      parts.push(d.after ? `${key}: ${shown(before[key])} → ${shown(after[key])}` : `${key}: ${shown(before[key])}`);
    }
  } else {
    for (const [key, value] of Object.entries(d)) parts.push(`${key}: ${shown(value)}`);
  }
  const text = parts.join("; ");
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function target(entry) {
  const d = entry.details ?? {};
  if (entry.target_type === "channel") return d.name ? `#${d.name}` : `channel ${entry.target_id ?? ""}`;
  if (entry.target_type === "config") return `settings, version ${entry.target_id}`;
  if (entry.target_type === "user" && entry.target_id) return nameOf(entry.target_id);
  return [entry.target_type, entry.target_id].filter(Boolean).join(" ") || "—";
}

function Entry({ entry }) {
  const text = summary(entry);
  return html`<tr>
    <td data-label="Time"><time datetime=${entry.created_at} title=${fullTime(entry.created_at)}>${WHEN.format(new Date(entry.created_at))}</time></td>
    <td data-label="Actor">${entry.actor_id ? nameOf(entry.actor_id) : html`<span class="muted">nchat</span>`}</td>
    <th scope="row" data-label="Action"><code>${entry.action}</code></th>
    <td data-label="Target">${target(entry)}</td>
    <td data-label="Details">
      <details class="audit-details">
        <summary>${text || "Show details"}</summary>
        <pre>${JSON.stringify({ ...entry.details, ip: entry.ip ?? undefined }, null, 2)}</pre>
      </details>
    </td>
  </tr>`;
}

const NO_FILTERS = { action: "", actor: "", actorId: "", since: "", until: "" };

// The actor's id from what was typed (a username, with or without "@").
async function actorIdOf(typed) {
  const username = typed.trim().replace(/^@/, "").toLowerCase();
  if (!username) return "";
  const found = (await searchPeople(username)).find((p) => p.username.toLowerCase() === username);
  if (!found) throw new Error(`Nobody is called @${username}.`);
  return found.id;
}

function Filters({ onApply }) {
  const [error, setError] = useState(null);
  async function submit(event) {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(event.currentTarget));
    setError(null);
    if (values.since && values.until && values.since > values.until) {
      setError({ field: "until", message: "The last day is before the first." });
      return;
    }
    try {
      onApply({ ...values, action: values.action.trim(), actorId: await actorIdOf(values.actor) });
    } catch (caught) {
      setError({ field: "actor", message: caught.message });
    }
  }
  const invalid = (name) => (error?.field === name ? "true" : undefined);
  const describe = (name, hint) => [hint, error?.field === name ? `audit-${name}-error` : null].filter(Boolean).join(" ") || undefined;
  const fieldError = (name) =>
    error?.field === name && html`<p class="field-error" id=${`audit-${name}-error`}>${error.message}</p>`;
  return html`<form class="admin-filters" role="search" aria-label="Audit log" onSubmit=${submit}
    onReset=${() => (setError(null), onApply(NO_FILTERS))}>
    <div class="field">
      <label for="audit-action">Action</label>
      <input id="audit-action" name="action" list="audit-actions" autocomplete="off" maxlength="100"
        aria-describedby="audit-action-hint" />
      <datalist id="audit-actions">${KNOWN_ACTIONS.map((a) => html`<option key=${a} value=${a} />`)}</datalist>
      <p class="hint" id="audit-action-hint">Exact, or ending in “.” for all of a kind.</p>
    </div>
    <div class="field">
      <label for="audit-actor">Actor</label>
      <input id="audit-actor" name="actor" autocomplete="off" placeholder="username" maxlength="40"
        aria-invalid=${invalid("actor")} aria-describedby=${describe("actor")} />
      ${fieldError("actor")}
    </div>
    <div class="field">
      <label for="audit-since">From</label>
      <input id="audit-since" name="since" type="date" />
    </div>
    <div class="field">
      <label for="audit-until">To</label>
      <input id="audit-until" name="until" type="date" aria-invalid=${invalid("until")}
        aria-describedby=${describe("until")} />
      ${fieldError("until")}
    </div>
    <div class="admin-filter-actions">
      <button type="submit">Filter</button>
      <button type="reset" class="secondary">Clear</button>
    </div>
  </form>`;
}

function Exports({ filters }) {
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const [said, setSaid] = useState("");
  async function save(format, label) {
    setBusy(format);
    setError(null);
    setSaid("");
    try {
      await exportAudit(filters, format);
      setSaid(`${label} downloaded.`);
    } catch (caught) {
      setError(`The ${label} could not be downloaded: ${caught.message}`);
    } finally {
      setBusy(null);
    }
  }
  return html`<div class="admin-exports">
    <button type="button" class="secondary" disabled=${busy !== null} onClick=${() => save("csv", "CSV export")}>
      ${busy === "csv" ? "Exporting…" : "Export CSV"}</button>
    <button type="button" class="secondary" disabled=${busy !== null} onClick=${() => save("jsonl", "JSON Lines export")}>
      ${busy === "jsonl" ? "Exporting…" : "Export JSON Lines"}</button>
    <p class="admin-said" role="status">${said}</p>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
  </div>`;
}

export function AdminAudit() {
  const [filters, setFilters] = useState(NO_FILTERS);
  const { list, error, loadingMore, more } = usePages(listAudit, filters, "entries");

  const entries = list?.entries ?? [];
  return html`<section class="admin-section admin-audit" aria-labelledby="admin-audit-title">
    <h2 id="admin-audit-title">Audit log</h2>
    <p class="hint">Who changed what in the workspace, newest first.</p>
    <${Filters} onApply=${setFilters} />
    <${Exports} filters=${filters} />
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    <div class="admin-table-wrap" aria-busy=${list === null ? "true" : "false"}>
      ${list === null
        ? !error && html`<p class="muted">Loading…</p>`
        : entries.length === 0
          ? html`<p class="muted">No entry matches.</p>`
          : html`<table class="admin-table audit-table">
              <caption class="visually-hidden">Audit log</caption>
              <thead><tr>
                <th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th>
                <th scope="col">Target</th><th scope="col">Details</th>
              </tr></thead>
              <tbody>${entries.map((e) => html`<${Entry} key=${e.id} entry=${e} />`)}</tbody>
            </table>`}
    </div>
    ${list?.next_cursor &&
    html`<button type="button" class="secondary admin-more" disabled=${loadingMore} onClick=${more}>
      ${loadingMore ? "Loading…" : "Load more"}</button>`}
  </section>`;
}
