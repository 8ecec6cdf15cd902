// Sign in with username or email and password (POST /api/auth/signin).
import { Field } from "../components/field.js";
import { FormError } from "../components/form-error.js";
import { Heading } from "../components/heading.js";
import { useSubmit } from "../components/use-submit.js";
import { html } from "../lib/html.js";
import { signIn } from "../session.js";

export function SignInView() {
  const { busy, error, onSubmit } = useSubmit((values) => signIn(values.login, values.password));
  return html`
    <main class="card">
      <${Heading}>Sign in to nchat</${Heading}>
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
