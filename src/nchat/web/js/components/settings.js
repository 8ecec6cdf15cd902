// "Profile and settings", from the user's corner of the channel list: the name and status
// others see, the password, the sessions signed in elsewhere, and light or dark.
//
// No avatar picture: a user's `avatar_url` must be an absolute http(s) URL, which this
// page's policy (images from this origin only) would not show, and an uploaded file's URL
// is relative and needs the uploader's token. Avatars stay initials on a colour.
import { updateProfile } from "../account.js";
import { html, useId, useState } from "../lib/html.js";
import { appConfig, themeMode, user } from "../store.js";
import { chooseMode, chosenMode, workspaceMode } from "../theme.js";
import { Avatar } from "./avatar.js";
import { Dialog } from "./dialog.js";
import { Field } from "./field.js";
import { FormError } from "./form-error.js";
import { PasswordSection, Section, SessionsSection } from "./settings-security.js";
import { useSave } from "./use-save.js";

const MODE_LABELS = { system: "System", light: "Light", dark: "Dark" };

function ProfileSection() {
  const me = user.value;
  const { busy, saved, fields, general, onSubmit } = useSave((values) =>
    updateProfile({ displayName: values.display_name, statusText: values.status_text }),
  );
  return html`<${Section} title="Profile">
    <div class="settings-who">
      <${Avatar} person=${me} />
      <span><span class="who-name">${me.name}</span> <span class="muted">@${me.username}</span></span>
    </div>
    <form onSubmit=${onSubmit} aria-busy=${busy}>
      <${FormError} error=${general} />
      <${Field} label="Display name" name="display_name" autocomplete="name" required=${false}
        initial=${me.name} maxLength=${80} hint="Empty shows your username." error=${fields.display_name} />
      <${Field} label="Status" name="status_text" autocomplete="off" required=${false}
        initial=${me.status_text ?? ""} maxLength=${140} hint="A few words for others, such as “On holiday until Monday”."
        error=${fields.status_text} />
      <div class="settings-actions">
        <button type="submit" disabled=${busy}>${busy ? "Saving…" : "Save profile"}</button>
        <p class="settings-done" role="status">${saved ? "Profile saved." : ""}</p>
      </div>
    </form>
  </${Section}>`;
}

function AppearanceSection() {
  // Choosing what is already in effect changes no signal: this draws the choice anyway.
  const [, redraw] = useState(0);
  const chosen = chosenMode();
  const current = themeMode.value;
  const fallback = workspaceMode();
  const name = useId();
  return html`<${Section} title="Appearance">
    <fieldset class="theme-choice">
      <legend>Theme</legend>
      ${Object.entries(MODE_LABELS).map(
        ([mode, label]) => html`<label key=${mode} class="choice">
          <input type="radio" name=${name} value=${mode} checked=${current === mode}
            onChange=${() => (chooseMode(mode), redraw((n) => n + 1))} />
          ${label}${mode === "system" ? html` <span class="muted">(follows your device)</span>` : null}
        </label>`,
      )}
    </fieldset>
    <p class="hint">
      ${chosen
        ? "Kept in this browser."
        : `Until you choose, ${appConfig.value?.app_name || "the workspace"}’s default applies: ${MODE_LABELS[fallback]}.`}
    </p>
  </${Section}>`;
}

export function SettingsDialog() {
  // Bumped when the password changed: the sessions list is fetched again.
  const [signedOut, setSignedOut] = useState(0);
  return html`
    <${Dialog} title="Profile and settings" className="settings">
      <div class="settings-body">
        <${ProfileSection} />
        <${PasswordSection} onChanged=${() => setSignedOut((n) => n + 1)} />
        <${SessionsSection} key=${signedOut} />
        <${AppearanceSection} />
      </div>
    </${Dialog}>
  `;
}
