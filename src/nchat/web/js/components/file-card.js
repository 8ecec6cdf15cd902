// A file that is not shown as an image: a label of its kind, its name and size, and a
// Download button that saves it under its own name.
import { fileSize, kindOf } from "../files.js";
import { html } from "../lib/html.js";
import { DownloadButton } from "./download-button.js";

export function FileCard({ file }) {
  const { badge, word } = kindOf(file);
  return html`
    <div class="file-card">
      <span class="file-icon" aria-hidden="true">${badge}</span>
      <div class="file-text">
        <span class="file-name" title=${file.name}>${file.name}</span>
        <span class="muted file-meta">${word}, ${fileSize(file.size)}</span>
      </div>
      <${DownloadButton} file=${file} />
    </div>
  `;
}
