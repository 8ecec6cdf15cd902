// First run: no owner yet. Creates the owner (POST /api/setup), which also signs them in.
import { Field } from "../components/field.js";
import { FormError } from "../components/form-error.js";
import { Heading } from "../components/heading.js";
import { useSubmit } from "../components/use-submit.js";
import { html } from "../lib/html.js";
import { setUp } from "../session.js";
import { setupDone } from "../store.js";

async function create(values) {
  try {
    await setUp({
      app_name: values.app_name.trim() || null,
      owner: {
        display_name: values.display_name,
        username: values.username,
        email: values.email,
        password: values.password,
      },
    });
  } catch (error) {
    // Someone finished setup meanwhile: what is left is to sign in.
    if (error.code === "setup_completed") setupDone.value = true;
    throw error;
  }
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
