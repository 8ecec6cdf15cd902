// Settings' notification sections, loaded when Settings opens (not with the page): what
// notifies (the level), what a push shows, missed messages by email and a daily
// do-not-disturb schedule; this browser's notifications (on, off, blocked, not supported);
// and the devices pushes go to, each removable.
import { listen } from "../events.js";
import { fullTime } from "../format.js";
import { html, useEffect, useId, useRef, useState } from "../lib/html.js";
import {
  browserState,
  deviceId,
  disable,
  enable,
  listDevices,
  loadPreferences,
  removeDevice,
  savePreferences,
  supported,
} from "../notifications.js";
import { FormError } from "./form-error.js";
import { Section } from "./settings-security.js";
import { useSave } from "./use-save.js";

const LEVELS = [
  ["all", "All new messages"],
  ["mentions", "Direct messages, mentions and threads I follow"],
  ["nothing", "Nothing"],
];
const CONTENTS = [
  ["full", "Who wrote, where, and the message"],
  ["sender", "Who wrote and where, not the message"],
  ["none", "Only that there is something new"],
];
const BROWSER_STATES = {
  on: "On: this browser shows what you are notified of, even with nchat closed.",
  off: "Off in this browser.",
  blocked: "Blocked: this browser does not let nchat show notifications. Allow them in the site's settings, then enable them here.",
  unsupported: "This browser cannot show notifications from nchat (it needs a secure connection and a browser with Web Push).",
};
const VENDORS = [
  ["fcm.googleapis.com", "Chrome"],
  ["push.services.mozilla.com", "Firefox"],
  ["push.apple.com", "Safari"],
  ["notify.windows.com", "Edge"],
];

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function zonesWith(current) {
  const known = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return [...new Set([...known, "UTC", current])].sort();
}

// "22:00:00" as a time field shows it (minutes are enough for a schedule).
const clock = (time) => (time ? time.slice(0, 5) : "");

function body(values) {
  return {
    level: values.level,
    push_content: values.push_content,
    email: values.email === "on",
    dnd: {
      enabled: values.dnd_enabled === "on",
      start: values.dnd_start || null,
      end: values.dnd_end || null,
      timezone: values.dnd_timezone,
    },
  };
}

function Choices({ legend, name, options, initial }) {
  return html`<fieldset class="field">
    <legend>${legend}</legend>
    ${options.map(
      ([value, label]) => html`<label class="choice" key=${value}>
        <input type="radio" name=${name} value=${value} defaultChecked=${initial === value} />
        ${label}
      </label>`,
    )}
  </fieldset>`;
}

function Schedule({ dnd, error }) {
  const id = useId();
  // Never set: the schedule starts in the browser's zone, not the server's UTC.
  const zone = dnd.start === null ? browserZone() : dnd.timezone;
  const invalid = error ? "true" : undefined;
  const described = error ? `${id}-error` : `${id}-hint`;
  return html`<fieldset class="field dnd" aria-describedby=${described}>
    <legend>Do not disturb</legend>
    <label class="choice">
      <input type="checkbox" name="dnd_enabled" defaultChecked=${dnd.enabled} aria-invalid=${invalid} />
      Every day, from start to end
    </label>
    <div class="dnd-times">
      <label>Start <input type="time" name="dnd_start" defaultValue=${clock(dnd.start)} aria-invalid=${invalid} /></label>
      <label>End <input type="time" name="dnd_end" defaultValue=${clock(dnd.end)} aria-invalid=${invalid} /></label>
      <label>Time zone
        <select name="dnd_timezone" aria-invalid=${invalid}>
          ${zonesWith(zone).map((z) => html`<option key=${z} value=${z} selected=${z === zone}>${z}</option>`)}
        </select>
      </label>
    </div>
    <p class="hint" id=${`${id}-hint`}>Nothing is pushed or emailed then; an end before the start runs past midnight.</p>
    ${error && html`<p class="field-error" id=${`${id}-error`} role="alert">${error}</p>`}
  </fieldset>`;
}

// Whether two answers of the preferences API say the same (key order aside: events come
// through the log's JSON, which keeps its own order).
function samePrefs(a, b) {
  const flat = (p) => [p.level, p.push_content, p.email, p.dnd.enabled, p.dnd.start, p.dnd.end, p.dnd.timezone];
  return JSON.stringify(flat(a)) === JSON.stringify(flat(b));
}

function PreferencesSection() {
  const [prefs, setPrefs] = useState(null);
  const [loadError, setLoadError] = useState(null);
  // The fields keep what the person types; a change saved on another device draws them
  // anew (a new key) with the server's values. This form's own save changes nothing there.
  const [version, setVersion] = useState(0);
  const shown = useRef(null);
  const show = (value) => {
    shown.current = value;
    setPrefs(value);
  };
  useEffect(() => {
    loadPreferences().then(show, setLoadError);
    return listen((event) => {
      if (event.type !== "notification_preferences.updated") return;
      if (shown.current && samePrefs(shown.current, event.data)) return;
      show(event.data);
      setVersion((v) => v + 1);
    });
  }, []);
  const { busy, saved, fields, general, onSubmit } = useSave(async (values) => {
    show(await savePreferences(body(values)));
  });
  const scheduleError = fields.dnd ?? fields["dnd.start"] ?? fields["dnd.end"] ?? fields["dnd.timezone"];
  return html`<${Section} title="Notifications">
    <${FormError} error=${loadError} />
    ${prefs === null
      ? !loadError && html`<p class="muted" role="status">Loading…</p>`
      : html`<form key=${version} onSubmit=${onSubmit} aria-busy=${busy}>
          <${FormError} error=${general} />
          <${Choices} legend="Notify me about" name="level" options=${LEVELS} initial=${prefs.level} />
          <${Choices} legend="A notification shows" name="push_content" options=${CONTENTS}
            initial=${prefs.push_content} />
          <label class="choice field">
            <input type="checkbox" name="email" defaultChecked=${prefs.email} />
            Email me about direct messages and mentions I missed
          </label>
          <${Schedule} dnd=${prefs.dnd} error=${scheduleError} />
          <div class="settings-actions">
            <button type="submit" disabled=${busy}>${busy ? "Saving…" : "Save notifications"}</button>
            <p class="settings-done" role="status">${saved ? "Notification settings saved." : ""}</p>
          </div>
        </form>`}
  </${Section}>`;
}

function BrowserSection({ devices, reload }) {
  const [state, setState] = useState(null); // null: being checked
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (devices !== null) browserState(devices).then(setState, setError);
  }, [devices]);

  async function act(action) {
    setBusy(true);
    setError(null);
    try {
      setState(await action());
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
      reload();
    }
  }

  return html`<${Section} title="Notifications in this browser">
    <${FormError} error=${error} />
    <div class="settings-actions" aria-busy=${state === null || busy ? "true" : "false"}>
      <p class="browser-state" role="status">${state ? BROWSER_STATES[state] : "Checking…"}</p>
      ${state === "off" &&
      html`<button type="button" disabled=${busy} onClick=${() => act(enable)}>
        ${busy ? "Enabling…" : "Enable browser notifications"}
      </button>`}
      ${state === "on" &&
      html`<button type="button" class="secondary" disabled=${busy} onClick=${() => act(disable)}>
        ${busy ? "Disabling…" : "Disable browser notifications"}
      </button>`}
    </div>
  </${Section}>`;
}

function deviceName(device) {
  if (device.platform === "apns") return "Apple device";
  if (device.platform === "fcm") return "Android device";
  const host = device.endpoint ? new URL(device.endpoint).hostname : "";
  const vendor = VENDORS.find(([end]) => host === end || host.endsWith(`.${end}`));
  return vendor ? `${vendor[1]} browser` : "Web browser";
}

function DeviceItem({ device, mine, onRemove }) {
  const [busy, setBusy] = useState(false);
  const name = deviceName(device);
  async function remove() {
    setBusy(true);
    try {
      await onRemove(device);
    } finally {
      setBusy(false);
    }
  }
  return html`<li class=${mine ? "current" : ""}>
    <div class="result-text">
      <span class="result-name">${name}${mine && html` <span class="tag">This browser</span>`}</span>
      <span class="muted">Added <time datetime=${device.created_at}>${fullTime(device.created_at)}</time></span>
    </div>
    <button type="button" class="secondary small" disabled=${busy} onClick=${remove}
      aria-label=${`Remove ${name}, added ${fullTime(device.created_at)}`}>
      ${busy ? "Removing…" : "Remove"}
    </button>
  </li>`;
}

function DevicesSection({ devices, error, onRemove }) {
  const here = supported() ? deviceId() : null;
  return html`<${Section} title="Devices that get notifications">
    <${FormError} error=${error} />
    <div aria-busy=${devices === null ? "true" : "false"}>
      ${devices === null
        ? !error && html`<p class="muted">Loading…</p>`
        : devices.length === 0
          ? html`<p class="hint">None: notifications reach you only while nchat is open.</p>`
          : html`<ul class="session-list device-list">
              ${devices.map(
                (d) => html`<${DeviceItem} key=${d.id} device=${d} mine=${d.device_id === here} onRemove=${onRemove} />`,
              )}
            </ul>`}
    </div>
  </${Section}>`;
}

export function NotificationSettings() {
  const [devices, setDevices] = useState(null);
  const [error, setError] = useState(null);

  function reload() {
    listDevices().then(
      (list) => {
        setDevices(list);
        setError(null);
      },
      setError,
    );
  }
  useEffect(reload, []);

  async function remove(device) {
    try {
      // This browser's own: its subscription ends too, as with Disable.
      await (device.device_id === deviceId() && supported() ? disable() : removeDevice(device.device_id));
      setError(null);
    } catch (caught) {
      setError(caught);
    }
    reload();
  }

  return html`
    <${PreferencesSection} />
    <${BrowserSection} devices=${devices} reload=${reload} />
    <${DevicesSection} devices=${devices} error=${error} onRemove=${remove} />
  `;
}
