// First run: no owner yet. Creates the owner (POST /api/setup), which also signs them in.
// The workspace's name shows at once where the public configuration's did (the sidebar, the
// title), without a reload.
import { request } from "../api.js";
import { Field } from "../components/field.js";
import { FormError } from "../components/form-error.js";
import { Heading } from "../components/heading.js";
import { useSubmit } from "../components/use-submit.js";
import { html } from "../lib/html.js";
import { setUp } from "../session.js";
import { appConfig, setupDone } from "../store.js";

async function create(values) {
  const name = values.app_name.trim() || null;
  try {
    await setUp({
      app_name: name,
      owner: {
        display_name: values.display_name,
        username: values.username,
        email: values.email,
        password: values.password,
      },
    });
  } catch (error) {
    // Someone finished setup meanwhile: what is left is to sign in, under their name.
    if (error.code === "setup_completed") {
      setupDone.value = true;
      request("/api/config").then((config) => (appConfig.value = config), () => {});
    }
    throw error;
  }
  if (name) appConfig.value = { ...appConfig.value, app_name: name };
  setupDone.value = true;
}

export function SetupView() {
  const { busy, error, fields, onSubmit } = useSubmit(create);
  return html`
    <main class="card">
      <${Heading}>Set up nchat</${Heading}>
      <p>Create the owner account. You can invite everyone else once you are in.</p>
      <form method="post" onSubmit=${onSubmit} aria-busy=${busy}>
        <${FormError} error=${error} />
        <${Field} label="Workspace name" name="app_name" required=${false}
          hint="Shown to everyone who signs in." error=${fields.app_name} />
        <${Field} label="Your name" name="display_name" autocomplete="name"
          error=${fields["owner.display_name"]} />
        <${Field} label="Username" name="username" autocomplete="username"
          hint="2 to 32 characters: lower-case letters, digits, . _ -"
          error=${fields["owner.username"] ?? fields.username} />
        <${Field} label="Email" name="email" type="email" autocomplete="email"
          error=${fields["owner.email"]} />
        <${Field} label="Password" name="password" type="password" autocomplete="new-password"
          error=${fields["owner.password"] ?? fields.password} />
        <button type="submit" disabled=${busy}>${busy ? "Creating…" : "Create owner account"}</button>
      </form>
    </main>
  `;
}
