// Files on messages: their bytes as object URLs, downloads, the channel's list, and how a
// file is described. The API takes a bearer token, never a cookie, so an <img src> or a
// plain link cannot fetch a file: each is fetched with the token (session.call) and shown
// through a blob: URL, which the page's policy allows for images (decision 0038).
import { withQuery } from "./api.js";
import { call } from "./session.js";

// A URL nobody shows any more is revoked after this long: a message scrolled back into
// view, or the lightbox opened again, reuses it instead of fetching again.
const KEEP_MS = 60_000;

const cache = new Map(); // path -> {promise, url, users, timer}

// The file at `path` as an object URL, fetched once for all who show it: an entry whose
// `promise` gives the URL (and `url` once it has). Each acquire is paired with a release
// of the same entry.
export function acquire(path) {
  let entry = cache.get(path);
  if (!entry) {
    entry = { url: null, users: 0, timer: null, promise: null };
    entry.promise = call(path, { as: "blob" }).then(
      (blob) => (entry.url = URL.createObjectURL(blob)),
      (error) => {
        if (cache.get(path) === entry) cache.delete(path); // the next viewer tries again
        throw error;
      },
    );
    cache.set(path, entry);
  }
  clearTimeout(entry.timer);
  entry.users += 1;
  return entry;
}

// The object URL already made for `path`, if any: a component shows it at once.
export function cachedUrl(path) {
  return cache.get(path)?.url ?? null;
}

export function release(path, entry) {
  entry.users -= 1;
  if (entry.users > 0) return;
  entry.timer = setTimeout(() => {
    if (entry.users > 0) return;
    if (cache.get(path) === entry) cache.delete(path);
    if (entry.url) URL.revokeObjectURL(entry.url);
  }, KEEP_MS);
}

// Save the file under its own name: fetched with the token, then handed to the browser as
// a download of a blob: URL (an <a download> of an API URL would go without the token).
export async function downloadFile(file) {
  const entry = acquire(file.url);
  try {
    const url = await entry.promise;
    const link = document.createElement("a");
    link.href = url;
    link.download = file.name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  } finally {
    release(file.url, entry);
  }
}

// One page of the channel's files, newest first: {files, next_cursor}.
export function channelFiles(channelId, before = null) {
  return call(withQuery(`/api/channels/${channelId}/files`, { before, limit: 30 }));
}

export function isImage(file) {
  return Boolean(file.thumbnail_url);
}

const UNITS = ["KB", "MB", "GB", "TB"];

export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

// What kind of file it is, in a word, and the short label its card shows (the name's
// extension, which people know their files by).
const KINDS = [
  [/^image\//, "Image"],
  [/^video\//, "Video"],
  [/^audio\//, "Audio"],
  [/^text\//, "Text"],
  [/pdf/, "PDF"],
  [/zip|compressed|x-tar|gzip|x-7z|x-rar/, "Archive"],
  [/spreadsheet|excel|csv/, "Spreadsheet"],
  [/presentation|powerpoint/, "Presentation"],
  [/word|opendocument\.text|rtf/, "Document"],
];

export function kindOf(file) {
  const type = file.content_type ?? file.type ?? "";
  const word = KINDS.find(([pattern]) => pattern.test(type))?.[1] ?? "File";
  const extension = /\.([a-z0-9]{1,4})$/i.exec(file.name ?? "")?.[1];
  return { word, badge: (extension ?? word.slice(0, 3)).toUpperCase() };
}
