// An image large (the server's preview), in a dialog: its name, Download, and the other
// images of the same message by the arrow keys or the Previous and Next buttons. Escape
// closes it, as every dialog.
import { fileSize } from "../files.js";
import { html, useEffect, useState } from "../lib/html.js";
import { Dialog } from "./dialog.js";
import { DownloadButton } from "./download-button.js";
import { FileThumbnail } from "./file-thumbnail.js";

const BOX = 1600; // the preview's own bound (files/images.py PREVIEW_PX)

export function Lightbox({ files, index: first = 0 }) {
  const [index, setIndex] = useState(first);
  const file = files[index];
  const many = files.length > 1;
  const step = (by) => setIndex((at) => (at + by + files.length) % files.length);

  useEffect(() => {
    if (!many) return undefined;
    const onKeyDown = (event) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "ArrowLeft") step(-1);
      else if (event.key === "ArrowRight") step(1);
      else return;
      event.preventDefault();
    };
    document.addEventListener("keydown", onKeyDown);
    return () => document.removeEventListener("keydown", onKeyDown);
  }, [many]);

  return html`
    <${Dialog} title=${file.name} className="lightbox">
      <figure class="lightbox-figure">
        <${FileThumbnail} key=${file.id} file=${file} box=${BOX} tall=${BOX} variant="preview_url" className="lightbox-image" />
        <figcaption class="lightbox-caption">
          <span class="muted">
            ${many ? `${index + 1} of ${files.length} · ` : ""}${file.width && file.height
              ? `${file.width} × ${file.height}, `
              : ""}${fileSize(file.size)}
          </span>
          <span class="lightbox-actions">
            ${many &&
            html`<button type="button" class="secondary small" aria-label="Previous image" onClick=${() => step(-1)}>
                <span aria-hidden="true">←</span>
              </button>
              <button type="button" class="secondary small" aria-label="Next image" onClick=${() => step(1)}>
                <span aria-hidden="true">→</span>
              </button>`}
            <${DownloadButton} file=${file} />
          </span>
        </figcaption>
      </figure>
    </${Dialog}>
  `;
}
