// The client's state: signals and computeds only. Modules that change it (session.js,
// app.js) set them; views read them and re-render.
import { computed, signal } from "./lib/html.js";

// The signed-in user (the API's UserOut), or null.
export const user = signal(null);
// "loading" until the server said whether setup is done, "failed" if it could not.
export const phase = signal("loading");
export const setupDone = signal(false);
export const startError = signal(null);

export const screen = computed(() => {
  if (phase.value !== "ready") return phase.value;
  if (!setupDone.value) return "setup";
  return user.value ? "home" : "signin";
});
