// The composer's files: the "Attach files" button, the files on their way (a progress bar
// each, a way to take each out, the reason one was refused), and the two other ways in:
// files dropped anywhere on the conversation (the thread panel, for a reply; a drop zone
// shows while dragging) and files pasted into the composer (a screenshot from the
// clipboard). `channelId` is what the composer keeps its files under.
import { fileSize, kindOf } from "../files.js";
import { html, useEffect, useRef, useState } from "../lib/html.js";
import { appConfig } from "../store.js";
import { addFiles, addRefused, removeUpload, uploadsOf } from "../uploads.js";
import { Icon } from "./icons.js";

// What the composer needs to know: whether a send must wait, and whether files would go.
export function attachmentState(channelId) {
  const items = uploadsOf(channelId);
  return {
    uploading: items.some((item) => item.state === "uploading"),
    ready: items.some((item) => item.state === "done"),
  };
}

function carriesFiles(event) {
  return Array.from(event.dataTransfer?.types ?? []).includes("Files");
}

// Files of a drop, folders refused (the browser gives a folder as an empty "file").
function dropped(channelId, transfer) {
  const files = [];
  const items = Array.from(transfer.items ?? []);
  if (items.length) {
    for (const item of items) {
      if (item.kind !== "file") continue;
      const file = item.getAsFile();
      if (item.webkitGetAsEntry?.()?.isDirectory) {
        addRefused(channelId, file?.name ?? "folder", "Folders cannot be attached: pick the files in it.");
      } else if (file) {
        files.push(file);
      }
    }
  } else {
    files.push(...Array.from(transfer.files ?? []));
  }
  if (files.length) addFiles(channelId, files);
}

// Listens on the conversation (`zone`) around the composer for files dragged over it and
// on the composer's form for pasted ones; true while files are dragged over.
function useDropAndPaste(anchor, channelId, zoneSelector) {
  const [dragging, setDragging] = useState(false);
  useEffect(() => {
    const zone = anchor.current?.closest(zoneSelector);
    const form = anchor.current?.closest("form");
    if (!zone || !form) return undefined;
    let depth = 0; // dragenter/dragleave fire for every child crossed
    const enter = (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      depth += 1;
      setDragging(true);
    };
    const over = (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault(); // without it the browser would open the file instead
      event.dataTransfer.dropEffect = "copy";
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (event) => {
      depth = 0;
      setDragging(false);
      if (!carriesFiles(event)) return;
      event.preventDefault();
      dropped(channelId, event.dataTransfer);
      form.querySelector("textarea")?.focus({ preventScroll: true });
    };
    const paste = (event) => {
      const clipboard = event.clipboardData;
      const files = Array.from(clipboard?.files ?? []);
      // Text goes into the composer as usual, even when it comes with a picture of itself
      // (as spreadsheet cells do).
      if (!files.length || clipboard.types.includes("text/plain")) return;
      event.preventDefault();
      addFiles(channelId, files);
    };
    zone.addEventListener("dragenter", enter);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", leave);
    zone.addEventListener("drop", drop);
    form.addEventListener("paste", paste);
    return () => {
      zone.removeEventListener("dragenter", enter);
      zone.removeEventListener("dragover", over);
      zone.removeEventListener("dragleave", leave);
      zone.removeEventListener("drop", drop);
      form.removeEventListener("paste", paste);
    };
  }, [channelId]);
  return dragging;
}

function Upload({ item }) {
  const { badge, word } = kindOf(item);
  const failed = item.state === "failed";
  const percent = Math.round(item.loaded * 100);
  return html`
    <li class=${`upload ${item.state}`}>
      ${item.local_url
        ? html`<img class="upload-preview" src=${item.local_url} alt="" />`
        : html`<span class="upload-icon" aria-hidden="true">${badge}</span>`}
      <div class="upload-text">
        <span class="upload-name" title=${item.name}>${item.name}</span>
        ${failed
          ? html`<span class="field-error" role="alert">${item.name} was not attached: ${item.error}</span>`
          : item.state === "uploading"
            ? html`<progress max="100" value=${percent} aria-label=${`Uploading ${item.name}`}></progress>
                <span class="muted upload-state">${percent}% of ${fileSize(item.size)}</span>`
            : html`<span class="muted upload-state">${word}, ${fileSize(item.size)}, ready</span>`}
      </div>
      <button type="button" class="icon-button" aria-label=${`Remove ${item.name}`}
        onClick=${() => removeUpload(item.key)}>
        <span aria-hidden="true">×</span>
      </button>
    </li>
  `;
}

export function Attachments({ channelId, inThread = false }) {
  const input = useRef(null);
  const anchor = useRef(null);
  const dragging = useDropAndPaste(anchor, channelId, inThread ? ".panel-body" : ".conversation");
  const attach = inThread ? "Attach files to the reply" : "Attach files";
  const items = uploadsOf(channelId);
  const allowed = appConfig.value?.file_uploads !== false;

  function picked(event) {
    const files = Array.from(event.currentTarget.files ?? []);
    event.currentTarget.value = ""; // the same file may be picked again
    if (files.length) addFiles(channelId, files);
  }

  return html`
    <span ref=${anchor} class="attach" hidden=${!allowed}>
      <button type="button" class="icon-button attach-button" aria-label=${attach}
        title=${attach} onClick=${() => input.current?.click()}>
        <${Icon} name="attach" />
      </button>
      <input ref=${input} type="file" multiple hidden tabindex="-1" onChange=${picked} />
    </span>
    ${items.length > 0 &&
    html`<ul class="uploads" aria-label="Files to send">
      ${items.map((item) => html`<${Upload} key=${item.key} item=${item} />`)}
    </ul>`}
    ${dragging &&
    html`<div class="drop-zone" aria-hidden="true">
      <p>Drop files to attach them to your ${inThread ? "reply" : "message"}</p>
    </div>`}
  `;
}
