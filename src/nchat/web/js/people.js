// Everyone the client has met (authors, DM members, search results), by id: typing
// signals and presence carry only user ids.
import { withQuery } from "./api.js";
import { call } from "./session.js";
import { people } from "./store.js";

const asked = new Set();

// Messages and DMs name people without their avatar: `avatar_url` stays as known then
// (undefined: not known yet; null: none).
export function learn(list) {
  let next = null;
  for (const person of list) {
    if (!person?.id) continue;
    const known = (next ?? people.value).get(person.id);
    const avatar = "avatar_url" in person ? person.avatar_url : known?.avatar_url;
    if (known && known.name === person.name && known.username === person.username && known.avatar_url === avatar) {
      continue;
    }
    next ??= new Map(people.value);
    next.set(person.id, { id: person.id, username: person.username, name: person.name, avatar_url: avatar });
  }
  if (next) people.value = next;
}

// Asks the server once for someone not met yet, or met without their avatar.
function ask(id) {
  if (asked.has(id)) return;
  asked.add(id);
  call(`/api/users/${id}`)
    .then((found) => learn([found]))
    .catch(() => {});
}

// A person's name ("Someone" until the server says).
export function nameOf(id) {
  const known = people.value.get(id);
  if (known) return known.name;
  ask(id);
  return "Someone";
}

// The picture to show for a person, or null for their initials. Only an uploaded one (a
// path of this server): the page's policy loads no other origin's images.
export function avatarOf(person) {
  if (!person?.id) return null;
  let url = people.value.get(person.id)?.avatar_url;
  if (url === undefined) url = person.avatar_url;
  if (url === undefined) ask(person.id);
  return typeof url === "string" && /^\/(?!\/)/.test(url) ? url : null;
}

export async function searchPeople(q) {
  const page = await call(withQuery("/api/users", { q: q || null, limit: 20 }));
  const found = page.users.filter((u) => u.is_active && !u.deleted_at);
  learn(found);
  return found;
}
