// Files picked for a message, uploaded at once (POST /api/files) so that sending is quick.
// The one module that uses XMLHttpRequest: fetch reports no upload progress, and a bar
// that does not move is no progress bar.
//
// An item of store.uploads is {key, channel_id, name, size, type, state, loaded, error,
// file, local_url}: state "uploading" (`loaded` is the fraction sent, 0..1), "done"
// (`file` is the server's FileOut) or "failed" (`error` says why, in words). `local_url`
// is an object URL of the picked image, shown before the server's thumbnail exists.
import { ApiError } from "./api.js";
import { freshToken, refresh } from "./session.js";
import { appConfig, uploads } from "./store.js";
import { fileSize } from "./files.js";

// The server's limit of files on one message (files/schemas.py MAX_FILES_PER_MESSAGE).
export const MAX_FILES = 10;
const PREVIEWABLE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

const running = new Map(); // key -> its XMLHttpRequest

function setItem(key, fields) {
  uploads.value = uploads.value.map((item) => (item.key === key ? { ...item, ...fields } : item));
}

export function uploadsOf(channelId) {
  return uploads.value.filter((item) => item.channel_id === channelId);
}

// Why a file cannot go, before a byte is sent; null when it may.
function refusal(file, config) {
  if (config && config.file_uploads === false) return "File uploads are switched off on this server.";
  if (config && file.size > config.max_upload_bytes) {
    return `It is larger than this server accepts (at most ${fileSize(config.max_upload_bytes)}).`;
  }
  return null;
}

// Start uploading each of `files` (File objects) for the composer of `channelId`.
export function addFiles(channelId, files) {
  const config = appConfig.value;
  let room = MAX_FILES - uploadsOf(channelId).filter((item) => item.state !== "failed").length;
  const added = [];
  for (const file of files) {
    const item = {
      key: crypto.randomUUID(),
      channel_id: channelId,
      name: file.name || "pasted file",
      size: file.size,
      type: file.type,
      state: "uploading",
      loaded: 0,
      error: null,
      file: null,
      local_url: null,
    };
    const refused = room <= 0 ? `A message carries at most ${MAX_FILES} files.` : refusal(file, config);
    if (refused) {
      added.push({ ...item, state: "failed", error: refused });
      continue;
    }
    room -= 1;
    if (PREVIEWABLE.has(file.type)) item.local_url = URL.createObjectURL(file);
    added.push(item);
    start(item.key, file);
  }
  uploads.value = [...uploads.value, ...added];
}

// Another kind of refusal found by the caller (a folder dropped, say), shown like the rest.
export function addRefused(channelId, name, error) {
  const item = { key: crypto.randomUUID(), channel_id: channelId, name, size: 0, type: "" };
  uploads.value = [...uploads.value, { ...item, state: "failed", loaded: 0, error, file: null, local_url: null }];
}

function forget(item) {
  running.get(item.key)?.abort();
  running.delete(item.key);
  if (item.local_url) URL.revokeObjectURL(item.local_url);
}

// Taken out before sending (an upload still running is stopped; one done is left to the
// server, which removes uploads no message took within a day).
export function removeUpload(key) {
  const item = uploads.value.find((i) => i.key === key);
  if (!item) return;
  forget(item);
  uploads.value = uploads.value.filter((i) => i.key !== key);
}

// The files ready to go with a message of `channelId`, taken out of the composer.
export function takeReady(channelId) {
  const ready = uploadsOf(channelId).filter((item) => item.state === "done");
  for (const item of ready) forget(item);
  const keys = new Set(ready.map((item) => item.key));
  uploads.value = uploads.value.filter((item) => !keys.has(item.key));
  return ready.map((item) => item.file);
}

// Everything picked, dropped (signing out: the next user starts with an empty composer).
export function clearUploads() {
  for (const item of uploads.value) forget(item);
  uploads.value = [];
}

async function start(key, file, retried = false) {
  let token;
  try {
    token = await freshToken();
  } catch (error) {
    setItem(key, { state: "failed", error: error.message });
    return;
  }
  if (!uploads.value.some((item) => item.key === key)) return; // removed meanwhile
  const xhr = new XMLHttpRequest();
  running.set(key, xhr);
  xhr.open("POST", "/api/files");
  xhr.setRequestHeader("Accept", "application/json");
  if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  xhr.responseType = "text";
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) setItem(key, { loaded: event.loaded / event.total });
  });
  xhr.addEventListener("load", async () => {
    running.delete(key);
    if (xhr.status === 401 && !retried && (await refresh().catch(() => false))) {
      start(key, file, true);
      return;
    }
    const data = parse(xhr.responseText);
    if (xhr.status === 201 && data) {
      setItem(key, { state: "done", loaded: 1, file: data });
    } else {
      setItem(key, { state: "failed", error: describe(errorOf(xhr, data)) });
    }
  });
  xhr.addEventListener("error", () => {
    running.delete(key);
    setItem(key, { state: "failed", error: "The server cannot be reached. Try again shortly." });
  });
  const body = new FormData();
  body.append("file", file, file.name || "pasted file");
  xhr.send(body);
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorOf(xhr, data) {
  const error = data?.error;
  return new ApiError(
    xhr.status,
    error?.code ?? "http_error",
    error?.message ?? `The server answered ${xhr.status}.`,
    error?.details ?? {},
  );
}

// The server's words, with the limit it gave; a learnt limit also guards the next pick.
function describe(error) {
  if (error.code === "file_too_large" && error.details.max_bytes) {
    const max = error.details.max_bytes;
    if (appConfig.value) appConfig.value = { ...appConfig.value, max_upload_bytes: max };
    return `${error.message} (at most ${fileSize(max)}).`;
  }
  return error.message.endsWith(".") ? error.message : `${error.message}.`;
}
