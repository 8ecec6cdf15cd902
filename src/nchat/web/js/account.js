// The signed-in user's own account: profile, picture, password, sessions.
import { learn } from "./people.js";
import { call } from "./session.js";
import { user } from "./store.js";
import { transfer } from "./uploads.js";

// The server's limits of an avatar (files/avatars.py), checked before a byte is sent.
export const AVATAR_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
export const AVATAR_MAX_BYTES = 5 * 1024 * 1024;

function own(changed) {
  learn([changed]);
  user.value = { ...user.value, ...changed };
  return changed;
}

export async function updateProfile({ displayName, statusText }) {
  const me = user.value;
  const changed = await call(`/api/users/${me.id}`, {
    method: "PUT",
    // Empty means none: the server shows the username for a name left empty.
    body: { display_name: displayName.trim(), status_text: statusText.trim() || null },
  });
  return own(changed);
}

// A new picture (`onProgress` gets the fraction sent); the others see it by user.updated.
export async function uploadAvatar(file, onProgress) {
  return own(await transfer("PUT", "/api/users/me/avatar", file, { onProgress }));
}

export async function removeAvatar() {
  return own(await call("/api/users/me/avatar", { method: "DELETE" }));
}

// Every other session of the user ends on the server; this one goes on.
export async function changePassword(current, next) {
  await call("/api/users/me/password", {
    method: "POST",
    body: { current_password: current, new_password: next },
  });
}

export async function listSessions() {
  return (await call("/api/auth/sessions")).sessions;
}

export async function endSession(id) {
  await call(`/api/auth/sessions/${id}`, { method: "DELETE" });
}

const BROWSERS = [
  [/Edg(e|A|iOS)?\//, "Edge"],
  [/OPR\/|Opera/, "Opera"],
  [/Firefox\/|FxiOS/, "Firefox"],
  [/Chrom(e|ium)\/|CriOS/, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS = [
  [/iPhone|iPad|iPod/, "iOS"],
  [/Android/, "Android"],
  [/CrOS/, "ChromeOS"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/Linux/, "Linux"],
];

// "Firefox on Linux" from a User-Agent; a program's own ("nchat-cli/1.0") as it is.
export function deviceOf(agent) {
  if (!agent) return "Unknown device";
  const browser = BROWSERS.find(([re]) => re.test(agent))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(agent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? agent.slice(0, 60);
}
