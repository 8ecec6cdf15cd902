// A search result's `highlight` as plain pieces of text, each marked or not, so it can be
// drawn without putting the server's string into the DOM as HTML. The server escapes the
// message text (& < >) and puts <mark>...</mark> around the matches (decision 0034): those
// two tags are the only markup, and every other `<` in the string arrives as `&lt;`.
// Anything unexpected stays text, shown as it is; a stray </mark> is dropped.

const TOKEN = /<mark>|<\/mark>|&(?:amp|lt|gt|quot|#x27|#39);/g;
const ENTITIES = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&#x27;": "'",
  "&#39;": "'",
};

// [{text, mark}], neighbours of the same kind joined, no empty pieces.
export function parseHighlight(source) {
  const string = String(source ?? "");
  const pieces = [];
  let depth = 0;
  let text = "";
  const flush = () => {
    if (!text) return;
    const mark = depth > 0;
    const last = pieces.at(-1);
    if (last && last.mark === mark) last.text += text;
    else pieces.push({ text, mark });
    text = "";
  };
  let at = 0;
  for (const found of string.matchAll(TOKEN)) {
    text += string.slice(at, found.index);
    at = found.index + found[0].length;
    if (found[0] === "<mark>") {
      flush();
      depth += 1;
    } else if (found[0] === "</mark>") {
      flush();
      depth = Math.max(0, depth - 1);
    } else {
      text += ENTITIES[found[0]];
    }
  }
  text += string.slice(at);
  flush();
  return pieces;
}
