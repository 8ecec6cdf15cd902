// The client's entry: asks the server whether setup is done, resumes a stored session,
// and shows the screen that fits (setup, sign-in, the chat, or a password-reset link's page).
// The theme first: its module sets light or dark before anything is drawn.
import { applyConfig } from "./theme.js";
import { request } from "./api.js";
import { batch, html, render, useEffect, useState } from "./lib/html.js";
import { resetTokenOf } from "./navigation.js";
import { restore } from "./session.js";
import { appConfig, phase, resetToken, screen, setupDone, startError, userId } from "./store.js";
import { ChatView } from "./views/chat.js";
import { MaintenanceBanner } from "./components/maintenance-banner.js";
import { SetupView } from "./views/setup.js";
import { SignInView } from "./views/signin.js";

async function start() {
  phase.value = "loading";
  try {
    const config = await request("/api/config");
    applyConfig(config);
    if (config.setup_completed) await restore();
    batch(() => {
      appConfig.value = config;
      setupDone.value = config.setup_completed;
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

function Loading() {
  return html`<p class="notice" role="status">Loading…</p>`;
}

// Few ever open a reset link: its page loads then, not with the app.
function ResetScreen() {
  const [loaded, setLoaded] = useState(null);
  useEffect(() => {
    import("./views/reset-password.js").then(
      (module) => setLoaded({ View: module.ResetPasswordView }),
      (error) => setLoaded({ error }),
    );
  }, []);
  if (loaded?.View) return html`<${loaded.View} />`;
  if (!loaded) return html`<${Loading} />`;
  return html`<main class="card"><p class="form-error" role="alert">${loaded.error.message}</p></main>`;
}

const SCREENS = {
  loading: Loading,
  failed: Failed,
  setup: SetupView,
  signin: SignInView,
  reset: ResetScreen,
};

function App() {
  if (screen.value === "chat") {
    // One chat per signed-in user: another user starts from nothing.
    return html`<div class="chat-frame">
      <${MaintenanceBanner} />
      <${ChatView} key=${userId.value} />
    </div>`;
  }
  const Screen = SCREENS[screen.value];
  return html`<${Screen} />`;
}

resetToken.value = resetTokenOf();
render(html`<${App} />`, document.getElementById("app"));
start();
