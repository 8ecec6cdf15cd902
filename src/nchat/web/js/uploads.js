// Files picked for a message, uploaded at once (POST /api/files) so that sending is quick;
// `transfer` also sends one's avatar (account.js). The one module that uses XMLHttpRequest:
// fetch reports no upload progress, and a bar that does not move is no progress bar.
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
const UNREACHABLE = "The server cannot be reached. Try again shortly.";

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

async function start(key, file) {
  try {
    const data = await transfer("POST", "/api/files", file, {
      onProgress: (loaded) => setItem(key, { loaded }),
      onOpen: (xhr) => {
        if (!uploads.value.some((item) => item.key === key)) return false; // taken out meanwhile
        running.set(key, xhr);
        return true;
      },
    });
    setItem(key, { state: "done", loaded: 1, file: data });
  } catch (error) {
    setItem(key, { state: "failed", error: describe(error) });
  } finally {
    running.delete(key);
  }
}

// One file sent as multipart/form-data in a part named `file`, with its progress (0..1):
// the server's JSON answer, or an ApiError in its words. `onOpen(xhr)` may keep the request
// to abort it, or return false to send nothing. An expired token is refreshed once.
export async function transfer(method, url, file, { onProgress, onOpen } = {}, retried = false) {
  const token = await freshToken();
  const { status, data } = await new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader("Accept", "application/json");
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, data: parse(xhr.responseText) }));
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", UNREACHABLE)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was stopped.")));
    if (onOpen && onOpen(xhr) === false) {
      reject(new ApiError(0, "aborted", "The upload was stopped."));
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name || "pasted file");
    xhr.send(body);
  });
  if (status === 401 && !retried && (await refresh().catch(() => false))) {
    return transfer(method, url, file, { onProgress, onOpen }, true);
  }
  if (status >= 200 && status < 300 && data) return data;
  throw errorOf(status, data);
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorOf(status, data) {
  const error = data?.error;
  return new ApiError(
    status,
    error?.code ?? "http_error",
    error?.message ?? `The server answered ${status}.`,
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
