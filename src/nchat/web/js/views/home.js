// Signed in: a placeholder until the chat screens arrive.
import { Heading } from "../components/heading.js";
import { html, useState } from "../lib/html.js";
import { signOut } from "../session.js";
import { user } from "../store.js";

export function HomeView() {
  const [leaving, setLeaving] = useState(false);
  const me = user.value;

  async function leave() {
    setLeaving(true);
    await signOut(); // this view goes with the user
  }

  return html`
    <header class="bar">
      <span class="brand">nchat</span>
      <span class="who">${me.name} <span class="muted">@${me.username}</span></span>
      <button type="button" class="secondary" onClick=${leave} disabled=${leaving}>
        ${leaving ? "Signing out…" : "Sign out"}
      </button>
    </header>
    <main class="page">
      <${Heading}>Welcome, ${me.name}</${Heading}>
      <p>You are signed in as <strong>@${me.username}</strong> (${me.role}).</p>
      <p class="muted">Channels and messages will appear here.</p>
    </main>
  `;
}
