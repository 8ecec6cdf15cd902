// The administration pages, for owners and admins: a list of sections beside the open one
// (at /#/admin/<section>), and the way back to the chat (its button, Escape or Back).
// Loaded when first opened (views/chat.js), never with the page. Each section is its own
// component, a <section> under this page's <h1> with an <h2> of its own.
import { html, useEffect, useLayoutEffect, useRef } from "../../lib/html.js";
import { canAdminister, closeAdmin, showAdminSection } from "../../navigation.js";
import { adminSection, appConfig, user } from "../../store.js";
import { AdminAudit } from "./audit.js";
import { AdminChannels } from "./channels.js";
import { AdminConfig } from "./config.js";
import { AdminMaintenance } from "./maintenance.js";
import { AdminOverview } from "./overview.js";
import { AdminUsers } from "./users.js";

export const SECTIONS = [
  { id: "overview", label: "Overview", View: AdminOverview },
  { id: "users", label: "Users", View: AdminUsers },
  { id: "channels", label: "Channels", View: AdminChannels },
  { id: "audit", label: "Audit log", View: AdminAudit },
  { id: "settings", label: "Settings", View: AdminConfig },
  { id: "maintenance", label: "Maintenance", View: AdminMaintenance },
];

function onKeyDown(event) {
  // A dialog or a menu closes first, on its own Escape.
  if (event.key !== "Escape" || event.defaultPrevented || document.querySelector("dialog[open]")) return;
  event.preventDefault();
  closeAdmin();
}

function follow(event, id) {
  // A plain click shows it in place; with a modifier key the browser opens a tab as usual.
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  showAdminSection(id);
}

export function AdminView() {
  const current = SECTIONS.find((section) => section.id === adminSection.value);
  const heading = useRef(null);

  // Before the browser handles another event: Escape works as soon as the page shows.
  useLayoutEffect(() => {
    heading.current?.focus();
    document.addEventListener("keydown", onKeyDown);
    return () => document.removeEventListener("keydown", onKeyDown);
  }, []);
  useEffect(() => {
    if (!current) showAdminSection("overview");
  }, [current]);
  // Demoted meanwhile (user.updated): the pages close.
  const allowed = canAdminister(user.value?.role);
  useEffect(() => {
    if (!allowed) closeAdmin();
  }, [allowed]);

  const name = appConfig.value?.app_name || "nchat";
  return html`
    <div class="admin">
      <header class="admin-bar">
        <button type="button" class="secondary small admin-back" onClick=${closeAdmin}
          aria-keyshortcuts="Escape"><span aria-hidden="true">← </span>Back to chat</button>
        <span class="brand">${name}</span>
      </header>
      <div class="admin-body">
        <nav class="admin-nav" aria-label="Administration sections">
          <ul>
            ${SECTIONS.map(
              (section) => html`<li key=${section.id}>
                <a href=${`#/admin/${section.id}`} aria-current=${section === current ? "page" : undefined}
                  onClick=${(event) => follow(event, section.id)}>${section.label}</a>
              </li>`,
            )}
          </ul>
        </nav>
        <main class="admin-main" aria-labelledby="admin-title">
          <h1 id="admin-title" tabindex="-1" ref=${heading}>
            Administration${current && html`<span class="visually-hidden">: ${current.label}</span>`}
          </h1>
          ${current && html`<${current.View} key=${current.id} />`}
        </main>
      </div>
    </div>
  `;
}
