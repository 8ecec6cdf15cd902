// The panel beside the conversation (store.panel says which): a thread, search results,
// pinned or saved messages. On narrow screens it covers the conversation. Escape and its
// Close button close it, and focus goes back where it was when it opened.
import { html, useEffect, useId, useLayoutEffect, useRef, useState } from "../lib/html.js";
import { notice, panel } from "../store.js";
import { FilesPanel } from "./files-panel.js";
import { PinsPanel, SavedPanel } from "./message-panels.js";
import { ThreadPanel } from "./thread-panel.js";

// A panel whose module loads when it first opens: not preloaded with the page, whose first
// load has a size budget (bench/web.py); nothing of it shows meanwhile.
function lazy(load) {
  let Loaded = null;
  let loading = null;
  return function Lazy(props) {
    const [, setReady] = useState(false);
    useEffect(() => {
      if (Loaded) return;
      loading ??= load();
      loading.then(
        (component) => {
          Loaded = component;
          setReady(true);
        },
        (error) => {
          loading = null; // tried again at the next opening
          notice.value = { message: `The panel could not be loaded: ${error.message}` };
        },
      );
    }, []);
    return Loaded ? html`<${Loaded} ...${props} />` : null;
  };
}

// kind -> component, given the panel's fields as props. Each panel registers itself here.
const KINDS = {
  files: FilesPanel,
  pins: PinsPanel,
  saved: SavedPanel,
  thread: ThreadPanel,
  search: lazy(() => import("./search-panel.js").then((module) => module.SearchPanel)),
};

export function closePanel() {
  panel.value = null;
}

export function openPanel(kind, fields = {}) {
  panel.value = { kind, ...fields };
}

// The frame every panel draws itself in: a labelled region with a heading and Close.
export function PanelFrame({ title, children, className = "", actions = null }) {
  const titleId = useId();
  const ref = useRef(null);

  useLayoutEffect(() => {
    const opener = document.activeElement;
    ref.current?.querySelector("h2")?.focus({ preventScroll: true });
    return () => {
      const back = opener?.isConnected ? opener : document.getElementById("composer-input");
      back?.focus({ preventScroll: true });
    };
  }, []);

  return html`
    <aside ref=${ref} class=${`side-panel ${className}`} aria-labelledby=${titleId}>
      <div class="panel-head">
        <h2 id=${titleId} tabindex="-1">${title}</h2>
        ${actions}
        <button type="button" class="icon-button" aria-label="Close" onClick=${closePanel}>
          <span aria-hidden="true">×</span>
        </button>
      </div>
      <div class="panel-body">${children}</div>
    </aside>
  `;
}

export function SidePanel() {
  const open = panel.value;
  const Kind = open && KINDS[open.kind];
  // Keyed by kind: switching from one panel to another mounts a new one.
  return Kind ? html`<${Kind} key=${open.kind} ...${open} />` : null;
}
