// The only module that calls fetch: JSON in and out, errors as ApiError from the server's
// one error envelope {"error": {"code", "message", "details"}}.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0: the server could not be reached
    this.code = code;
    this.details = details;
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

export async function request(path, { method = "GET", body, token } = {}) {
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
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network_error", "The server cannot be reached. Try again shortly.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error;
    throw new ApiError(
      response.status,
      error?.code ?? "http_error",
      error?.message ?? `The server answered ${response.status}.`,
      error?.details ?? {},
    );
  }
  return data;
}
