// What the composer offers to complete at the caret: `@` people (and @channel, @here in a
// channel), `#` channels, `:` emoji. The syntax is the server's (messages/mentions.py,
// render.py): what is inserted is what it renders as a mention, a channel or an emoji.
import { browsePublic } from "./channels.js";
import { loadEmoji, matchEmoji, shortName } from "./emoji.js";
import { isDirect } from "./format.js";
import { searchPeople } from "./people.js";
import { channels, userId } from "./store.js";

export const SHOWN = 8;

// The token being typed just before the caret. `@` and `#` follow no word character (an
// e-mail address or "C#" is not one); a shortcode stands alone, after a space or at the
// start, and needs two letters (so "10:30" or ":)" offer nothing).
const TRIGGERS = [
  { kind: "person", re: /(?:^|[^\w@])@([a-z0-9._-]{0,32})$/i },
  { kind: "channel", re: /(?:^|[^\w#&])#([a-z0-9_-]{0,80})$/i },
  { kind: "emoji", re: /(?:^|[\s(])(:[a-z0-9_+-]{2,40})$/i },
];

// {kind, query, start, end} for the token before `caret`, or null.
export function tokenAt(text, caret) {
  const before = text.slice(0, caret);
  for (const { kind, re } of TRIGGERS) {
    const found = re.exec(before);
    if (!found) continue;
    const typed = found[1];
    const word = kind === "emoji" ? typed : `${kind === "person" ? "@" : "#"}${typed}`;
    return { kind, query: word.slice(1).toLowerCase(), start: caret - word.length, end: caret };
  }
  return null;
}

// The text with the token replaced by the option's insertion and a space, and the caret
// after it.
export function insert(text, token, option) {
  const rest = text.slice(token.end);
  const glue = rest.startsWith(" ") ? "" : " ";
  const head = text.slice(0, token.start) + option.insert + glue;
  return { text: head + rest, caret: head.length + (glue ? 0 : 1) };
}

function rank(name, query) {
  if (name.startsWith(query)) return 0;
  return name.includes(query) ? 1 : 2;
}

const SPECIAL = [
  { name: "channel", hint: "Notify everyone in this channel" },
  { name: "here", hint: "Notify everyone online in this channel" },
];

async function people(query, channel) {
  const me = userId.value;
  const found = (await searchPeople(query)).filter((person) => person.id !== me);
  const options = found.map((person) => ({
    id: `person-${person.id}`,
    kind: "person",
    label: person.name,
    detail: `@${person.username}`,
    person,
    insert: `@${person.username}`,
  }));
  if (!isDirect(channel)) {
    for (const special of SPECIAL) {
      if (!special.name.startsWith(query)) continue;
      options.push({
        id: `special-${special.name}`,
        kind: "special",
        label: `@${special.name}`,
        detail: special.hint,
        insert: `@${special.name}`,
      });
    }
  }
  return options;
}

async function channelOptions(query) {
  const known = [...(channels.value?.values() ?? [])].filter((c) => !isDirect(c) && c.name);
  // Public channels the user is not in are visible too: the server renders them.
  const listed = await browsePublic(query).catch(() => []);
  const byId = new Map([...known, ...listed].map((c) => [c.id, c]));
  return [...byId.values()]
    .filter((c) => rank(c.name.toLowerCase(), query) < 2)
    .sort((a, b) => rank(a.name, query) - rank(b.name, query) || a.name.localeCompare(b.name))
    .map((c) => ({
      id: `channel-${c.id}`,
      kind: "channel",
      label: `#${c.name}`,
      detail: c.type === "private" ? "private" : c.is_member === false ? "not joined" : "",
      insert: `#${c.name}`,
    }));
}

async function emoji(query) {
  const all = await loadEmoji();
  return matchEmoji(all, query, SHOWN).map((item) => ({
    id: `emoji-${item.names[0]}`,
    kind: "emoji",
    label: item.char,
    detail: `:${shortName(item)}:`,
    insert: item.char,
  }));
}

// The options for a token in `channel`, at most SHOWN.
export async function optionsFor(token, channel) {
  let options;
  if (token.kind === "person") options = await people(token.query, channel);
  else if (token.kind === "channel") options = await channelOptions(token.query);
  else options = await emoji(token.query);
  return options.slice(0, SHOWN);
}
