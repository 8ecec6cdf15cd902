// "Download": the file fetched with the user's token and saved under its own name. A
// button, not a link: the file's URL alone would be refused without the token.
import { downloadFile } from "../files.js";
import { html, useState } from "../lib/html.js";
import { notice } from "../store.js";

export function DownloadButton({ file, className = "secondary small" }) {
  const [busy, setBusy] = useState(false);

  async function download() {
    setBusy(true);
    try {
      await downloadFile(file);
    } catch (error) {
      notice.value = { message: `${file.name} could not be downloaded: ${error.message}` };
    } finally {
      setBusy(false);
    }
  }

  return html`<button type="button" class=${`download ${className}`} aria-label=${`Download ${file.name}`}
    disabled=${busy} onClick=${download}>${busy ? "Downloading…" : "Download"}</button>`;
}
