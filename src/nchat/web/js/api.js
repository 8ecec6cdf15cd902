// The only module that calls fetch: JSON in and out, errors as ApiError from the server's
// one error envelope {"error": {"code", "message", "details"}}.

export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0: the server could not be reached
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter; // seconds, from a 429's or 503's Retry-After
  }

  // The messages of a validation error by field ("owner.email"), for forms.
  fieldErrors() {
    const fields = {};
    for (const error of this.details.errors ?? []) {
      const name = error.loc.filter((part) => part !== "body").join(".");
      fields[name] ??= error.msg;
    }
    return fields;
  }
}

// A path with its query string; parameters that are null or undefined are left out.
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// `as: "blob"`: the body of a file, not JSON; files never change, so the browser's cache
// may keep them (the server says for how long).
export async function request(path, { method = "GET", body, token, as = "json" } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", // the bearer token is the only credential
      cache: as === "blob" ? "default" : "no-store",
    });
  } catch {
    throw new ApiError(0, "network_error", "The server cannot be reached. Try again shortly.");
  }
  if (response.status === 204) return null;
  if (as === "blob" && response.ok) return response.blob();
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error;
    const retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw new ApiError(
      response.status,
      error?.code ?? "http_error",
      error?.message ?? `The server answered ${response.status}.`,
      error?.details ?? {},
      retryAfter,
    );
  }
  return data;
}
