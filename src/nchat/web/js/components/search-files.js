// The search panel's Files view: files whose name or type holds the words, newest first, a
// page at a time. An image opens the lightbox (with the other images found), every file
// can be downloaded, and one sent on a message shows that message in its conversation.
import { fileSize, isImage, kindOf } from "../files.js";
import { channelLabel, fullTime } from "../format.js";
import { html, useEffect, useRef, useState } from "../lib/html.js";
import { nameOf } from "../people.js";
import { MAX_QUERY, openFileResult, searchError, searchFiles, tooLong } from "../search.js";
import { channels, userId } from "../store.js";
import { DownloadButton } from "./download-button.js";
import { FileThumbnail } from "./file-thumbnail.js";
import { openLightbox } from "./message-files.js";

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

const IDLE = { files: [], next: null, loading: false, error: null };

function where(hit) {
  if (!hit.channel_id) return "not sent yet";
  const known = channels.value?.get(hit.channel_id);
  return known ? `in ${channelLabel(known, userId.value)}` : "in a conversation";
}

function FileHit({ hit, images }) {
  const { badge, word } = kindOf(hit);
  const index = images.indexOf(hit);
  const at = hit.created_at;
  return html`<li class="file-row search-file" data-id=${hit.id}>
    ${index >= 0
      ? html`<button type="button" class="thumbnail-button" aria-label=${`Open ${hit.name}`}
          onClick=${() => openLightbox(images, index)}>
          <${FileThumbnail} file=${hit} box=${48} tall=${48} className="thumbnail small" />
        </button>`
      : html`<span class="file-icon" aria-hidden="true">${badge}</span>`}
    <div class="file-text">
      <span class="file-name" title=${hit.name}>${hit.name}</span>
      <span class="muted file-meta">${word}, ${fileSize(hit.size)} · ${nameOf(hit.uploader_id)} ${where(hit)}</span>
      <time class="muted file-meta" datetime=${at} title=${fullTime(at)}>${WHEN.format(new Date(at))}</time>
      <span class="search-file-actions">
        ${hit.message_id &&
        html`<button type="button" class="secondary small" aria-label=${`Show ${hit.name} in conversation`}
          onClick=${() => openFileResult(hit)}>Show in conversation</button>`}
        <${DownloadButton} file=${hit} />
      </span>
    </div>
  </li>`;
}

function summary(found) {
  const n = found.files.length;
  const count = n === 1 ? "1 file" : `${n} files`;
  return found.next ? `${count} so far` : count;
}

export function FileResults({ q, asked }) {
  const [found, setFound] = useState(IDLE);
  const [moreFrom, setMoreFrom] = useState(null);
  const list = useRef(null);
  const words = q.trim();

  useEffect(() => {
    if (!words) {
      setFound(IDLE);
      return undefined;
    }
    if (tooLong(words)) {
      setFound({ ...IDLE, error: `The search is too long: at most ${MAX_QUERY} characters.` });
      return undefined;
    }
    let current = true;
    setFound({ ...IDLE, loading: true });
    searchFiles({ q: words })
      .then((page) => current && setFound(pageOf(page, [])))
      .catch((error) => current && setFound({ ...IDLE, error: searchError(error) }));
    return () => {
      current = false;
    };
  }, [words, asked]);

  // After "Load more", focus goes to the first new file's first control.
  useEffect(() => {
    if (moreFrom === null) return;
    list.current?.querySelectorAll(".search-file")[moreFrom]?.querySelector("button")?.focus();
    setMoreFrom(null);
  }, [moreFrom]);

  function pageOf(page, before) {
    const seen = new Set(before.map((f) => f.id));
    return {
      files: [...before, ...page.files.filter((f) => !seen.has(f.id))],
      next: page.next_cursor,
      loading: false,
      error: null,
    };
  }

  async function loadMore() {
    const before = found;
    setFound({ ...before, loading: true, error: null });
    try {
      const page = await searchFiles({ q: words, cursor: before.next });
      setFound(pageOf(page, before.files));
      setMoreFrom(before.files.length);
    } catch (error) {
      setFound({ ...before, loading: false, error: searchError(error) });
    }
  }

  const first = found.loading && !found.files.length;
  const images = found.files.filter(isImage);
  return html`<div class="search-results-area" aria-busy=${found.loading ? "true" : "false"}>
    <p class="search-summary" role="status">
      ${!words || found.error ? "" : first ? "Searching…" : found.files.length ? summary(found) : ""}
    </p>
    ${!words &&
    html`<p class="search-empty muted">Type part of a file’s name, or its type (pdf, image, text).</p>`}
    ${found.error && html`<p class="form-error search-error" role="alert">${found.error}</p>`}
    ${words && !found.loading && !found.error && !found.files.length &&
    html`<div class="search-empty">
      <p><strong>No files match “${words}”.</strong></p>
      <p class="muted">Files are found by part of their name or their type; search operators apply to messages only.</p>
    </div>`}
    ${found.files.length > 0 &&
    html`<ul class="file-list search-files" ref=${list} aria-label="Files found, newest first">
      ${found.files.map((hit) => html`<${FileHit} key=${hit.id} hit=${hit} images=${images} />`)}
    </ul>`}
    ${found.next &&
    html`<div class="search-more">
      <button type="button" class="secondary small" disabled=${found.loading} onClick=${loadMore}>
        ${found.loading ? "Loading…" : "Load more files"}
      </button>
    </div>`}
  </div>`;
}
