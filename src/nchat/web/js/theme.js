// Light, dark or the system's choice, and the workspace's branding (GET /api/config: app_name,
// theme {mode, accent}).
//
// The mode is `data-theme` on <html> ("light" or "dark"; absent follows the system: css/app.css
// holds the tokens of each). It is set when this module loads, before the first render, from
// what the user chose (localStorage) or else the workspace's default as last seen, so a
// reload does not flash the other theme. The accent is a constructed stylesheet: the page's
// policy allows no inline style, and the colour is checked to be #rrggbb before it is used.
import { appConfig, themeMode } from "./store.js";

const CHOICE_KEY = "nchat.theme";
const WORKSPACE_KEY = "nchat.workspace_theme";
export const MODES = ["system", "light", "dark"];
const HEX = /^#[0-9a-f]{6}$/i;
// The dark theme's surface (css/app.css --surface), which text in the accent colour is read on.
const DARK_SURFACE = "#1e2128";
const DARK_TEXT = "#0d1021";

let accentSheet = null;

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage refused (privacy settings): the defaults hold
  }
}

function keep(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Not kept across reloads, but applied now.
  }
}

function modeOf(value) {
  return MODES.includes(value) ? value : null;
}

function workspaceTheme() {
  try {
    return JSON.parse(stored(WORKSPACE_KEY) ?? "null") ?? {};
  } catch {
    return {};
  }
}

// The mode the user picked, or null while they follow the workspace's default.
export function chosenMode() {
  return modeOf(stored(CHOICE_KEY));
}

// What the workspace sets for people who did not choose ("system" when it sets nothing).
export function workspaceMode() {
  return modeOf(appConfig.value?.theme?.mode) ?? modeOf(workspaceTheme().mode) ?? "system";
}

function applyMode() {
  const mode = chosenMode() ?? workspaceMode();
  themeMode.value = mode;
  if (mode === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", mode);
}

export function chooseMode(mode) {
  keep(CHOICE_KEY, modeOf(mode));
  applyMode();
}

// Another tab chose: this one follows.
window.addEventListener("storage", (event) => {
  if (event.key === CHOICE_KEY) applyMode();
});

// -- the accent ---------------------------------------------------------------------------

function channels(hex) {
  return [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
}

function luminance(hex) {
  const [r, g, b] = channels(hex).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

function mix(hex, toward, share) {
  const [from, to] = [channels(hex), channels(toward)];
  return `#${from.map((c, i) => Math.round(c + (to[i] - c) * share).toString(16).padStart(2, "0")).join("")}`;
}

// The accent moved toward white until text of it reads on `surface` (WCAG AA, 4.5:1): a
// brand colour chosen for a light page is often too dark on a dark one.
function readableOn(hex, surface) {
  let colour = hex;
  for (let share = 0.1; contrast(colour, surface) < 4.5 && share <= 1; share += 0.1) {
    colour = mix(hex, "#ffffff", share);
  }
  return colour;
}

function tokens(accent) {
  const text = contrast(accent, "#ffffff") >= contrast(accent, DARK_TEXT) ? "#ffffff" : DARK_TEXT;
  return `--accent: ${accent}; --accent-text: ${text}; --focus: ${accent};`;
}

// The rules that set the accent in each theme, or "" for a value that is not #rrggbb.
export function accentRules(value) {
  if (typeof value !== "string" || !HEX.test(value)) return "";
  const light = value.toLowerCase();
  const dark = readableOn(light, DARK_SURFACE);
  return [
    `:root { ${tokens(light)} }`,
    `@media (prefers-color-scheme: dark) { :root:not([data-theme="light"]) { ${tokens(dark)} } }`,
    `:root[data-theme="dark"] { ${tokens(dark)} }`,
  ].join("\n");
}

function applyAccent(value) {
  if (!("adoptedStyleSheets" in document)) return; // an older browser keeps the default
  if (accentSheet === null) {
    accentSheet = new CSSStyleSheet();
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, accentSheet];
  }
  accentSheet.replaceSync(accentRules(value));
}

// The public configuration arrived (at start; again whenever it is fetched anew): its
// theme is remembered for the next load's first paint.
export function applyConfig(config) {
  const theme = config?.theme ?? {};
  keep(WORKSPACE_KEY, JSON.stringify({ mode: modeOf(theme.mode), accent: theme.accent ?? null }));
  applyAccent(theme.accent);
  applyMode();
  if (config?.app_name) document.title = config.app_name;
}

// Before the first render: what was last seen, until the server's configuration arrives.
applyAccent(workspaceTheme().accent);
applyMode();
