// An image file at a given size: its thumbnail (or preview) fetched with the user's token.
// Until the bytes are here a transparent placeholder of the image's shape holds its
// place, so the list does not jump when it arrives.
import { html } from "../lib/html.js";
import { useFileUrl } from "./use-file-url.js";

// The width and height that fit the image into `box` pixels across and `tall` down, never
// enlarged.
export function fitted(file, box, tall = box) {
  const width = file.width || box;
  const height = file.height || tall;
  const scale = Math.min(1, box / width, tall / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function placeholder({ width, height }) {
  return `data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 ${width} ${height}'/%3E`;
}

export function FileThumbnail({ file, box = 320, tall = 240, variant = "thumbnail_url", className = "thumbnail" }) {
  const { url, failed } = useFileUrl(file[variant] ?? file.url);
  const size = fitted(file, box, tall);
  return html`<img
    class=${`${className}${url ? "" : " loading"}${failed ? " failed" : ""}`}
    src=${url ?? placeholder(size)}
    alt=${failed ? `${file.name} (could not be loaded)` : file.name}
    width=${size.width}
    height=${size.height}
    data-loaded=${url ? "true" : undefined}
  />`;
}
