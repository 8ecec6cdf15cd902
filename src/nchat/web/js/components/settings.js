// "Profile and settings", from the user's corner of the channel list: the picture, name
// and status others see, notifications, the password, the sessions signed in elsewhere, and
// light or dark.
import { AVATAR_MAX_BYTES, AVATAR_TYPES, removeAvatar, updateProfile, uploadAvatar } from "../account.js";
import { html, useEffect, useId, useRef, useState } from "../lib/html.js";
import { appConfig, themeMode, user } from "../store.js";
import { chooseMode, chosenMode, workspaceMode } from "../theme.js";
import { Avatar } from "./avatar.js";
import { Dialog } from "./dialog.js";
import { Field } from "./field.js";
import { FormError } from "./form-error.js";
import { PasswordSection, Section, SessionsSection } from "./settings-security.js";
import { useSave } from "./use-save.js";

const MODE_LABELS = { system: "System", light: "Light", dark: "Dark" };

const NO_PICTURE = { busy: false, loaded: 0, preview: null, error: null, done: "" };

// Why a picked file cannot be a picture, before it is sent; null when it may go.
function refusal(file) {
  if (!AVATAR_TYPES.includes(file.type)) return "Choose a PNG, JPEG, GIF or WebP image.";
  if (file.size > AVATAR_MAX_BYTES) return "The picture is larger than 5 MB.";
  return null;
}

// The picture: picked, shown at once from the file while it goes up, then the server's.
function PictureField({ me }) {
  const [state, setState] = useState(NO_PICTURE);
  const picker = useRef(null);
  const hint = useId();
  useEffect(() => () => state.preview && URL.revokeObjectURL(state.preview), [state.preview]);

  async function pick(event) {
    const file = event.currentTarget.files?.[0];
    event.currentTarget.value = ""; // the same file may be picked again
    if (!file) return;
    const refused = refusal(file);
    if (refused) {
      setState({ ...NO_PICTURE, error: refused });
      return;
    }
    setState({ ...NO_PICTURE, busy: true, preview: URL.createObjectURL(file) });
    try {
      await uploadAvatar(file, (loaded) => setState((now) => ({ ...now, loaded })));
      setState({ ...NO_PICTURE, done: "Picture saved." });
    } catch (error) {
      setState({ ...NO_PICTURE, error: error.message });
    }
  }

  async function remove() {
    setState({ ...NO_PICTURE, busy: true });
    try {
      await removeAvatar();
      setState({ ...NO_PICTURE, done: "Picture removed." });
    } catch (error) {
      setState({ ...NO_PICTURE, error: error.message });
    }
  }

  const percent = Math.round(state.loaded * 100);
  return html`<div class="settings-who">
      ${state.preview
        ? html`<img class="avatar large" src=${state.preview} alt="" />`
        : html`<${Avatar} person=${me} size="large" />`}
      <span><span class="who-name">${me.name}</span> <span class="muted">@${me.username}</span></span>
    </div>
    <div class="settings-actions picture-actions" aria-busy=${state.busy}>
      <input ref=${picker} type="file" accept=${AVATAR_TYPES.join(",")} hidden onChange=${pick} />
      <button type="button" class="secondary small" disabled=${state.busy} aria-describedby=${hint}
        onClick=${() => picker.current.click()}>Upload picture</button>
      ${me.avatar_url &&
      html`<button type="button" class="secondary small" disabled=${state.busy} onClick=${remove}>Remove picture</button>`}
      ${state.preview &&
      html`<progress max="100" value=${percent} aria-label="Uploading picture"></progress>`}
      <p class="settings-done" role="status">${state.done}</p>
    </div>
    ${state.error && html`<p class="form-error" role="alert">${state.error}</p>`}
    <p class="hint picture-hint" id=${hint}>PNG, JPEG, GIF or WebP, at most 5 MB; its centre is cut to a square.</p>`;
}

function ProfileSection() {
  const me = user.value;
  const { busy, saved, fields, general, onSubmit } = useSave((values) =>
    updateProfile({ displayName: values.display_name, statusText: values.status_text }),
  );
  return html`<${Section} title="Profile">
    <${PictureField} me=${me} />
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

// Notifications: their module (preferences, devices, the browser's push) loads when
// Settings opens, not with the page.
function NotificationSections() {
  const [loaded, setLoaded] = useState(null);
  useEffect(() => {
    import("./settings-notifications.js").then(
      (module) => setLoaded({ Sections: module.NotificationSettings }),
      (error) => setLoaded({ error }),
    );
  }, []);
  if (loaded?.Sections) return html`<${loaded.Sections} />`;
  return html`<${Section} title="Notifications">
    ${loaded ? html`<${FormError} error=${loaded.error} />` : html`<p class="muted">Loading…</p>`}
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
        <${NotificationSections} />
        <${PasswordSection} onChanged=${() => setSignedOut((n) => n + 1)} />
        <${SessionsSection} key=${signedOut} />
        <${AppearanceSection} />
      </div>
    </${Dialog}>
  `;
}
