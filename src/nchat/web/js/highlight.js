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

// -- the snippet as a reader sees the message -------------------------------------------------

// The Markdown syntax of a snippet, dropped so it reads as the message shows: each rule's
// `a` and `b` groups are taken out, `keep` (code) is left as written. In order: fences,
// code, escapes, links, emphasis, line starts; what one rule took or kept, later ones skip.
// Snippets are excerpts, so a pair cut in half stays as it is.
const SYNTAX = [
  /^[ \t]*(?<a>(?:`{3,}|~{3,})[^\n]*\n?)/dgm,
  /(?<!`)(?<a>`+)(?!`)(?<keep>[^]*?[^`])(?<b>\k<a>)(?!`)/dg,
  /(?<a>\\)(?<keep>[!-/:-@[-`{-~])/dg,
  /(?<a>\[)(?=[^\]\n]*\]\()[^\]\n]*(?<b>\]\([^)\s]*(?: "[^"\n]*")?\))/dg,
  /(?<a><)(?:https?|mailto):[^\s>]*(?<b>>)/dg,
  /(?<a>\*\*|__|~~)(?=\S)[^]*?\S(?<b>\k<a>)/dg,
  /(?<![\w*])(?<a>\*)(?=[^\s*])[^*\n]*?[^\s*](?<b>\*)(?![\w*])/dg,
  /(?<![\w_])(?<a>_)(?=[^\s_])[^_\n]*?[^\s_](?<b>_)(?![\w_])/dg,
  /^[ \t]*(?<a>#{1,6}[ \t]+|(?:>[ \t]?)+)/dgm,
];

// The pieces (parseHighlight's) with that syntax out, marks where they were.
export function readable(pieces) {
  // By UTF-16 unit, as the patterns' indices count.
  const chars = [];
  for (const { text, mark } of pieces) {
    for (let i = 0; i < text.length; i++) chars.push({ c: text[i], mark, state: 0 });
  }
  for (const rule of SYNTAX) {
    // Taken (1) and kept (2) characters are not there for this rule's pattern to see.
    const view = chars.map((x) => (x.state ? "\ue000" : x.c)).join("");
    for (const found of view.matchAll(rule)) {
      const { a, b, keep } = found.indices.groups;
      for (const [range, state] of [[a, 1], [b, 1], [keep, 2]]) {
        for (let i = range?.[0]; i < range?.[1]; i++) chars[i].state = state;
      }
    }
  }
  const out = [];
  for (const x of chars) {
    if (x.state === 1) continue;
    const last = out.at(-1);
    if (last && last.mark === x.mark) last.text += x.c;
    else out.push({ text: x.c, mark: x.mark });
  }
  return out;
}
