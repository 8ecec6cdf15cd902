// Everyone the client has met (authors, DM members, search results), by id: typing
// signals and presence carry only user ids.
import { withQuery } from "./api.js";
import { call } from "./session.js";
import { people } from "./store.js";

const asked = new Set();

export function learn(list) {
  let next = null;
  for (const person of list) {
    if (!person?.id) continue;
    const known = (next ?? people.value).get(person.id);
    if (known && known.name === person.name && known.username === person.username) continue;
    next ??= new Map(people.value);
    next.set(person.id, { id: person.id, username: person.username, name: person.name });
  }
  if (next) people.value = next;
}

// A person's name, asking the server once for someone not met yet ("Someone" meanwhile).
export function nameOf(id) {
  const known = people.value.get(id);
  if (known) return known.name;
  if (!asked.has(id)) {
    asked.add(id);
    call(`/api/users/${id}`)
      .then((found) => learn([{ id: found.id, username: found.username, name: found.name }]))
      .catch(() => {});
  }
  return "Someone";
}

export async function searchPeople(q) {
  const page = await call(withQuery("/api/users", { q: q || null, limit: 20 }));
  const found = page.users.filter((u) => u.is_active && !u.deleted_at);
  learn(found);
  return found;
}
