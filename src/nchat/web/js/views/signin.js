// Sign in with username or email and password (POST /api/auth/signin), under the
// workspace's name from the public configuration.
import { Field } from "../components/field.js";
import { FormError } from "../components/form-error.js";
import { Heading } from "../components/heading.js";
import { useSubmit } from "../components/use-submit.js";
import { html, useEffect } from "../lib/html.js";
import { signIn } from "../session.js";
import { appConfig } from "../store.js";

export function SignInView() {
  const { busy, error, onSubmit } = useSubmit((values) => signIn(values.login, values.password));
  const name = appConfig.value?.app_name || "nchat";
  useEffect(() => {
    document.title = name;
  }, [name]);
  return html`
    <main class="card">
      <${Heading}>Sign in to ${name}</${Heading}>
      <form method="post" onSubmit=${onSubmit} aria-busy=${busy}>
        <${FormError} error=${error} />
        <${Field} label="Username or email" name="login" autocomplete="username" />
        <${Field} label="Password" name="password" type="password"
          autocomplete="current-password" />
        <button type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  `;
}
