// The client's entry: asks the server whether setup is done, resumes a stored session,
// and shows the screen that fits (setup, sign-in, or the signed-in page).
import { request } from "./api.js";
import { batch, html, render } from "./lib/html.js";
import { restore } from "./session.js";
import { phase, screen, setupDone, startError } from "./store.js";
import { HomeView } from "./views/home.js";
import { SetupView } from "./views/setup.js";
import { SignInView } from "./views/signin.js";

async function start() {
  phase.value = "loading";
  try {
    const status = await request("/api/setup/status");
    if (status.completed) await restore();
    batch(() => {
      setupDone.value = status.completed;
      phase.value = "ready";
    });
  } catch (error) {
    batch(() => {
      startError.value = error;
      phase.value = "failed";
    });
  }
}

function Failed() {
  return html`
    <main class="card">
      <p class="form-error" role="alert">${startError.value?.message}</p>
      <button type="button" onClick=${start}>Try again</button>
    </main>
  `;
}

const SCREENS = {
  loading: () => html`<p class="notice" role="status">Loading…</p>`,
  failed: Failed,
  setup: SetupView,
  signin: SignInView,
  home: HomeView,
};

function App() {
  const Screen = SCREENS[screen.value];
  return html`<${Screen} />`;
}

render(html`<${App} />`, document.getElementById("app"));
start();
