// The open channel's files, newest first, a page at a time: images open the lightbox,
// every file can be downloaded. Opened by the Files button of the channel's header. Files
// of new messages come in at the top, those of deleted ones go.
import { listen } from "../events.js";
import { channelFiles, fileSize, isImage, kindOf } from "../files.js";
import { dayLabel, fullTime, timeOf } from "../format.js";
import { html, useEffect, useState } from "../lib/html.js";
import { nameOf } from "../people.js";
import { openChannelId } from "../store.js";
import { DownloadButton } from "./download-button.js";
import { FileThumbnail } from "./file-thumbnail.js";
import { openLightbox } from "./message-files.js";
import { PanelFrame } from "./side-panel.js";

function dayAndTime(iso) {
  const day = dayLabel(iso);
  return day === "Today" ? timeOf(iso) : `${day}, ${timeOf(iso)}`;
}

function FileRow({ file, images }) {
  const { badge, word } = kindOf(file);
  const index = images.indexOf(file);
  return html`
    <li class="file-row">
      ${index >= 0
        ? html`<button type="button" class="thumbnail-button" aria-label=${`Open ${file.name}`}
            onClick=${() => openLightbox(images, index)}>
            <${FileThumbnail} file=${file} box=${48} tall=${48} className="thumbnail small" />
          </button>`
        : html`<span class="file-icon" aria-hidden="true">${badge}</span>`}
      <div class="file-text">
        <span class="file-name" title=${file.name}>${file.name}</span>
        <span class="muted file-meta">
          ${`${nameOf(file.uploader_id)} · ${word}, ${fileSize(file.size)}`}<span class="file-when"> · <time
            datetime=${file.created_at} title=${fullTime(file.created_at)}>${dayAndTime(file.created_at)}</time></span>
        </span>
      </div>
      <${DownloadButton} file=${file} />
    </li>
  `;
}

function useChannelFiles(channelId) {
  const [state, setState] = useState({ files: null, next: null, busy: true, error: null });

  // A later page goes after what is shown, which live files may have changed meanwhile.
  async function load(before) {
    setState((s) => ({ ...s, next: before, busy: true, error: null }));
    try {
      const page = await channelFiles(channelId, before);
      setState((s) => {
        const shown = before ? s.files : [];
        const files = [...shown, ...page.files.filter((f) => !shown.some((x) => x.id === f.id))];
        return { files, next: page.next_cursor, busy: false, error: null };
      });
    } catch (error) {
      setState((s) => ({ ...s, busy: false, error: error.message }));
    }
  }

  useEffect(() => {
    load(null);
    return listen(({ type, channel_id: channel, data }) => {
      if (channel !== channelId) return;
      if (type === "message.created" && data.files?.length) {
        const added = data.files.map((file) => ({ ...file, message_id: data.id, uploader_id: data.user.id }));
        change((files) => [...added.filter((a) => !files.some((f) => f.id === a.id)), ...files]);
      } else if (type === "message.deleted") {
        change((files) => files.filter((f) => f.message_id !== data.message_id));
      }
    });
  }, [channelId]);

  // Before the first page, nothing to change: the page has what is there.
  function change(edit) {
    setState((s) => (s.files ? { ...s, files: edit(s.files) } : s));
  }

  return { ...state, more: () => load(state.next), retry: () => load(state.next) };
}

function FileList({ channelId }) {
  const { files, next, busy, error, more, retry } = useChannelFiles(channelId);
  const images = (files ?? []).filter(isImage);
  return html`
    <div class="files-panel-body" aria-busy=${busy ? "true" : "false"}>
      ${files?.length === 0 && !busy && !error && html`<p class="muted panel-note">No files in this conversation yet.</p>`}
      ${files?.length > 0 &&
      html`<ul class="file-list" aria-label="Files, newest first">
        ${files.map((file) => html`<${FileRow} key=${file.id} file=${file} images=${images} />`)}
      </ul>`}
      ${busy && html`<p class="muted panel-note" role="status">Loading files…</p>`}
      ${error &&
      html`<p class="form-error panel-note" role="alert">
        The files could not be loaded: ${error}
        <button type="button" class="link-button" onClick=${retry}>Try again</button>
      </p>`}
      ${next && !busy && !error &&
      html`<button type="button" class="secondary small load-more" onClick=${more}>Load more files</button>`}
    </div>
  `;
}

export function FilesPanel() {
  const channelId = openChannelId.value;
  return html`
    <${PanelFrame} title="Files" className="files-panel">
      ${channelId && html`<${FileList} key=${channelId} channelId=${channelId} />`}
    </${PanelFrame}>
  `;
}
