// The emoji the client offers: fetched once, when a picker or a `:shortcode:` completion
// first needs them (about 20 KB compressed, kept out of the first load). The names are the
// server's, so a completed `:name:` renders as that emoji.
import { request } from "./api.js";

// Offered before anything is typed: what people react with most.
export const FREQUENT = ["👍", "❤️", "😂", "🎉", "🙏", "👀", "✅", "🔥", "😮", "😢", "🚀", "👏"];

let loading = null;

// [{char, names}], names lowercased, the first one the emoji's own name.
export function loadEmoji() {
  loading ??= request(new URL("../data/emoji.json", import.meta.url).pathname)
    .then((rows) => rows.map(([char, ...names]) => ({ char, names: names.map((n) => n.toLowerCase()) })))
    .catch((error) => {
      loading = null; // a later attempt may succeed
      throw error;
    });
  return loading;
}

// Up to `limit` emoji whose names start with `query` (then those that contain it), in that
// order; `query` is lowercase, without colons.
export function matchEmoji(list, query, limit = 40) {
  const starts = [];
  const contains = [];
  for (const item of list) {
    if (item.names.some((name) => name.startsWith(query))) starts.push(item);
    else if (item.names.some((name) => name.includes(query))) contains.push(item);
    if (starts.length >= limit) break;
  }
  return starts.concat(contains).slice(0, limit);
}

// The name to show or type for an emoji: its shortest one (":+1:" over ":thumbs_up:").
export function shortName(item) {
  return item.names.reduce((best, name) => (name.length < best.length ? name : best));
}
