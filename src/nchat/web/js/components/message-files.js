// The files a message carries, under its text: images as thumbnails that open the lightbox
// (with the message's other images a keypress away), other files as cards.
import { isImage } from "../files.js";
import { html } from "../lib/html.js";
import { dialog } from "../store.js";
import { FileCard } from "./file-card.js";
import { FileThumbnail } from "./file-thumbnail.js";

export function openLightbox(images, index) {
  dialog.value = { kind: "lightbox", files: images, index };
}

export function MessageFiles({ files }) {
  const images = files.filter(isImage);
  const others = files.filter((file) => !isImage(file));
  return html`
    <div class="message-files">
      ${images.length > 0 &&
      html`<ul class="file-images" aria-label=${images.length === 1 ? "Image" : `${images.length} images`}>
        ${images.map(
          (file, index) => html`<li key=${file.id}>
            <button type="button" class="thumbnail-button" aria-label=${`Open ${file.name}`}
              onClick=${() => openLightbox(images, index)}>
              <${FileThumbnail} file=${file} />
            </button>
          </li>`,
        )}
      </ul>`}
      ${others.map((file) => html`<${FileCard} key=${file.id} file=${file} />`)}
    </div>
  `;
}
