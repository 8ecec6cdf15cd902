// Who is signed in, and the tokens that prove it.
//
// The access token lives in memory only. The refresh token is kept in localStorage so a
// reload stays signed in; refresh tokens rotate and a reused one ends the session, so
// every refresh (in any tab) runs under one Web Lock and starts from the stored token.
import { ApiError, request } from "./api.js";
import { user } from "./store.js";

const REFRESH_KEY = "nchat.refresh_token";
const REFRESH_LOCK = "nchat.refresh";
// Refresh this long before the access token runs out, so no request meets a 401 (which the
// browser reports in the console) in the common case.
const EARLY_S = 30;

let access = null;
let expiresAt = 0; // ms since the epoch

function keep(tokens) {
  access = tokens.access_token;
  expiresAt = Date.now() + (tokens.expires_in ?? 900) * 1000;
  localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  user.value = tokens.user;
}

function forget() {
  access = null;
  expiresAt = 0;
  localStorage.removeItem(REFRESH_KEY);
  user.value = null;
}

// Signed out in another tab: this one follows.
window.addEventListener("storage", (event) => {
  if (event.key === REFRESH_KEY && event.newValue === null) {
    access = null;
    user.value = null;
  }
});

export async function setUp(body) {
  keep(await request("/api/setup", { method: "POST", body }));
}

export async function signIn(login, password) {
  keep(await request("/api/auth/signin", { method: "POST", body: { login, password } }));
}

// Resume the stored session; false when there is none (or it has ended).
export async function restore() {
  if (localStorage.getItem(REFRESH_KEY) === null) return false;
  return refresh();
}

export async function signOut() {
  try {
    await call("/api/auth/signout", { method: "POST" });
  } catch (error) {
    // Signed out already (401) or unreachable: this browser forgets the session anyway.
    if (!(error instanceof ApiError)) throw error;
  } finally {
    forget();
  }
}

// A current access token (refreshed first when it is about to run out), for the socket's
// auth frame; null when the session has ended. Throws ApiError(0) when offline.
export async function freshToken() {
  if (access === null || Date.now() > expiresAt - EARLY_S * 1000) {
    if (!(await refresh())) return null;
  }
  return access;
}

// Seconds the current access token has left.
export function tokenSecondsLeft() {
  return Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
}

// A request as the signed-in user; an expired access token is refreshed once.
export async function call(path, options = {}) {
  if (access !== null && Date.now() > expiresAt - EARLY_S * 1000) await refresh();
  try {
    return await request(path, { ...options, token: access });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !(await refresh())) throw error;
    return request(path, { ...options, token: access });
  }
}

let refreshing = null;

// A new access token from the stored refresh token; false when the session has ended.
// Callers at the same time share one refresh.
export function refresh() {
  refreshing ??= rotate().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function rotate() {
  const run = async () => {
    const stored = localStorage.getItem(REFRESH_KEY);
    if (stored === null) {
      forget();
      return false;
    }
    try {
      keep(await request("/api/auth/refresh", { method: "POST", body: { refresh_token: stored } }));
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        forget();
        return false;
      }
      throw error;
    }
  };
  return navigator.locks ? navigator.locks.request(REFRESH_LOCK, run) : run();
}
