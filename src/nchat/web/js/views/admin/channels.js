// Administration, Channels: every channel of the workspace (private ones and DMs too, their
// metadata only, never their messages), found by name, kind and state, and what an admin
// changes: archive, visibility, owner, and delete for good (typed confirmation).
import { withQuery } from "../../api.js";
import { fullTime, plural } from "../../format.js";
import { html, useId, useState } from "../../lib/html.js";
import { searchPeople } from "../../people.js";
import { call } from "../../session.js";
import { Dialog } from "../../components/dialog.js";
import { useSearch } from "../../components/use-search.js";
import { ConfirmAction } from "./confirm-action.js";
import { usePages, useTypedQuery } from "./filters.js";

const PAGE = 50;
const KINDS = {
  public: "Public",
  private: "Private",
  announcement: "Announcement",
  direct: "Direct message",
  group: "Group message",
};
const DIRECT = new Set(["direct", "group"]);
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function listChannels({ q, kind, archived, cursor }) {
  return call(
    withQuery("/api/admin/channels", {
      q: q || null,
      kind: kind || null,
      archived: archived === "" ? null : archived,
      cursor,
      limit: PAGE,
    }),
  );
}

function act(id, what, body) {
  return call(`/api/admin/channels/${id}/${what}`, { method: "POST", body });
}

export const channelActions = {
  archive: (id) => act(id, "archive"),
  unarchive: (id) => act(id, "unarchive"),
  visibility: (id, isPrivate) => act(id, "visibility", { private: isPrivate }),
  owner: (id, userId) => act(id, "owner", { user_id: userId }),
  // 202 {status: "deleting"}: gone from every list at once (its contents go in the background).
  remove: (id) => call(`/api/admin/channels/${id}`, { method: "DELETE" }).then(() => null),
};

// "#general", or who a DM is between.
export function labelOf(channel) {
  if (channel.name) return `#${channel.name}`;
  const who = (channel.dm_members ?? []).map((p) => `@${p.username}`);
  return who.length ? who.join(", ") : "Conversation";
}

function Filters({ filters, onChange }) {
  const [q, setQ] = useTypedQuery(filters, onChange);
  const set = (name) => (event) => onChange({ ...filters, [name]: event.currentTarget.value });
  return html`<form class="admin-filters" role="search" aria-label="Channels" onSubmit=${(e) => e.preventDefault()}>
    <div class="field">
      <label for="admin-channels-q">Name</label>
      <input id="admin-channels-q" type="search" autocomplete="off" value=${q} maxlength="80"
        onInput=${(e) => setQ(e.currentTarget.value)} />
    </div>
    <div class="field">
      <label for="admin-channels-kind">Kind</label>
      <select id="admin-channels-kind" value=${filters.kind} onChange=${set("kind")}>
        <option value="">All kinds</option>
        ${Object.entries(KINDS).map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select>
    </div>
    <div class="field">
      <label for="admin-channels-archived">State</label>
      <select id="admin-channels-archived" value=${filters.archived} onChange=${set("archived")}>
        <option value="">Active and archived</option>
        <option value="false">Active</option>
        <option value="true">Archived</option>
      </select>
    </div>
  </form>`;
}

// Pick the new owner: people found by name as one types (the same search as "New message").
function OwnerDialog({ channel, onDone, onClose }) {
  const [q, setQ] = useState("");
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const fieldId = useId();
  useSearch(q, searchPeople, setFound, setError);

  async function pick(person) {
    setBusy(person.id);
    setError(null);
    try {
      onDone(await channelActions.owner(channel.id, person.id), `${labelOf(channel)} now belongs to @${person.username}.`);
      onClose();
    } catch (caught) {
      setBusy(null);
      setError(caught.message);
    }
  }

  return html`<${Dialog} title=${`New owner of ${labelOf(channel)}`} className="direct admin-owner" onClose=${onClose}>
    <p class="hint">The new owner becomes a channel admin (and a member, if they are not); ${channel.owner
      ? `@${channel.owner.username} stays a member.`
      : "the channel has no owner now."}</p>
    <div class="field">
      <label for=${fieldId}>Find a person</label>
      <input id=${fieldId} type="search" autofocus autocomplete="off" value=${q}
        onInput=${(e) => setQ(e.currentTarget.value)} />
    </div>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    <div class="dialog-list" aria-busy=${found === null ? "true" : "false"}>
      ${found === null
        ? html`<p class="muted">Loading…</p>`
        : found.length === 0
          ? html`<p class="muted">Nobody matches “${q}”.</p>`
          : html`<ul class="people-results">
              ${found.map(
                (person) => html`<li key=${person.id}>
                  <button type="button" class="person" disabled=${busy !== null}
                    aria-current=${channel.owner?.id === person.id ? "true" : undefined}
                    onClick=${() => pick(person)}>
                    <span class="result-name">${person.name}</span>
                    <span class="muted">@${person.username}${channel.owner?.id === person.id ? " (owner now)" : ""}</span>
                  </button>
                </li>`,
              )}
            </ul>`}
    </div>
    <div class="dialog-actions">
      <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
    </div>
  </${Dialog}>`;
}

// The confirmation of each action, from what it does to this channel.
function confirmation(action, channel) {
  const label = labelOf(channel);
  switch (action) {
    case "archive":
      return {
        title: `Archive ${label}?`,
        body: "Its members can still read it, but nobody can write in it until it is unarchived.",
        confirmLabel: "Archive",
        run: () => channelActions.archive(channel.id),
        done: `${label} is archived.`,
      };
    case "unarchive":
      return {
        title: `Unarchive ${label}?`,
        body: "Its members can write in it again.",
        confirmLabel: "Unarchive",
        run: () => channelActions.unarchive(channel.id),
        done: `${label} is no longer archived.`,
      };
    case "private":
      return {
        title: `Make ${label} private?`,
        body: "Only its members will see it and its messages; others lose sight of it at once.",
        confirmLabel: "Make private",
        run: () => channelActions.visibility(channel.id, true),
        done: `${label} is private now.`,
      };
    case "public":
      return {
        title: `Make ${label} public?`,
        body: "Everyone in the workspace will be able to find it, read its messages and join it.",
        confirmLabel: "Make public",
        run: () => channelActions.visibility(channel.id, false),
        done: `${label} is public now.`,
      };
    case "delete":
      return {
        title: `Delete ${label} for good?`,
        body: `Its ${plural(channel.member_count, "member")} lose it, and every message and file in it is removed. This cannot be undone.`,
        confirmLabel: "Delete for good",
        danger: true,
        typed: channel.name ?? "delete",
        run: () => channelActions.remove(channel.id),
        done: `${label} was deleted.`,
      };
    default:
      return null;
  }
}

function Actions({ channel, onAction }) {
  const named = !DIRECT.has(channel.type);
  const label = labelOf(channel);
  const button = (action, text) => html`<button type="button" class="secondary small"
    aria-label=${`${text}: ${label}`} onClick=${() => onAction(action, channel)}>${text}</button>`;
  return html`<div class="admin-actions">
    ${named && button(channel.archived ? "unarchive" : "archive", channel.archived ? "Unarchive" : "Archive")}
    ${channel.type === "public" && button("private", "Make private")}
    ${channel.type === "private" && button("public", "Make public")}
    ${named && button("owner", "Change owner")}
    <button type="button" class="danger small" aria-label=${`Delete ${label}`}
      onClick=${() => onAction("delete", channel)}>Delete</button>
  </div>`;
}

function Row({ channel, onAction }) {
  const activity = channel.last_message_at;
  return html`<tr>
    <th scope="row" data-label="Name"><span class="admin-name">${labelOf(channel)}</span>
      ${channel.topic && html`<span class="muted admin-topic">${channel.topic}</span>`}</th>
    <td data-label="Kind">${KINDS[channel.type] ?? channel.type}</td>
    <td data-label="Private">${channel.private ? "Yes" : "No"}</td>
    <td data-label="Archived">${channel.archived ? "Yes" : "No"}</td>
    <td data-label="Members">${channel.member_count}</td>
    <td data-label="Last activity">${activity
      ? html`<time datetime=${activity} title=${fullTime(activity)}>${WHEN.format(new Date(activity))}</time>`
      : html`<span class="muted">No messages</span>`}</td>
    <td data-label="Owner">${channel.owner ? `@${channel.owner.username}` : html`<span class="muted">None</span>`}</td>
    <td data-label="Actions"><${Actions} channel=${channel} onAction=${onAction} /></td>
  </tr>`;
}

const NO_FILTERS = { q: "", kind: "", archived: "" };

const pageOf = (filters, cursor) => listChannels({ ...filters, cursor });

export function AdminChannels() {
  const [filters, setFilters] = useState(NO_FILTERS);
  const { list, setList, error, loadingMore, more } = usePages(pageOf, filters, "channels");
  const [open, setOpen] = useState(null); // {action, channel}
  const [said, setSaid] = useState("");

  // The server's answer replaces the row (null: the channel is gone).
  function changed(id, fresh, message) {
    setList((now) => ({
      ...now,
      channels: fresh
        ? now.channels.map((c) => (c.id === id ? fresh : c))
        : now.channels.filter((c) => c.id !== id),
    }));
    setSaid(message);
  }

  const close = () => setOpen(null);
  let dialog = null;
  if (open?.action === "owner") {
    dialog = html`<${OwnerDialog} channel=${open.channel} onClose=${close}
      onDone=${(fresh, message) => changed(open.channel.id, fresh, message)} />`;
  } else if (open) {
    const { run, done, ...shown } = confirmation(open.action, open.channel);
    dialog = html`<${ConfirmAction} ...${shown} onClose=${close}
      onConfirm=${async () => changed(open.channel.id, await run(), done)} />`;
  }

  const rows = list?.channels ?? [];
  return html`<section class="admin-section admin-channels" aria-labelledby="admin-channels-title">
    <h2 id="admin-channels-title">Channels</h2>
    <p class="hint">Every channel and conversation of the workspace, private ones included. Their messages stay with their members.</p>
    <${Filters} filters=${filters} onChange=${setFilters} />
    <p class="admin-said" role="status">${said}</p>
    ${error && html`<p class="form-error" role="alert">${error}</p>`}
    <div class="admin-table-wrap" aria-busy=${list === null ? "true" : "false"}>
      ${list === null
        ? !error && html`<p class="muted">Loading…</p>`
        : rows.length === 0
          ? html`<p class="muted">No channel matches.</p>`
          : html`<table class="admin-table">
              <caption class="visually-hidden">Channels</caption>
              <thead><tr>
                <th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Private</th>
                <th scope="col">Archived</th><th scope="col">Members</th><th scope="col">Last activity</th>
                <th scope="col">Owner</th><th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr></thead>
              <tbody>${rows.map((c) => html`<${Row} key=${c.id} channel=${c}
                onAction=${(action, channel) => setOpen({ action, channel })} />`)}</tbody>
            </table>`}
    </div>
    ${list?.next_cursor &&
    html`<button type="button" class="secondary admin-more" disabled=${loadingMore} onClick=${more}>
      ${loadingMore ? "Loading…" : "Load more"}</button>`}
    ${dialog}
  </section>`;
}
