// The REST API, as the page calls it: same origin, the sign-in cookie goes by itself, and
// every state-changing request carries the sign-in's CSRF token.

let csrfToken = null;
let onSignedOut = () => {};

export function configure({ csrf, signedOut }) {
  csrfToken = csrf || null;
  if (signedOut) onSignedOut = signedOut;
}

export class ApiError extends Error {
  constructor(status, body, requestId) {
    const detail = (body && body.detail) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.code = (body && body.code) || "HTTP_ERROR";
    this.correlationId = (body && body.correlation_id) || requestId || "";
  }

  /** "what went wrong (CODE, request id …)": the id finds every log line of the request. */
  describe() {
    return `${this.detail} (${this.code}${this.correlationId ? `, request id ${this.correlationId}` : ""})`;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, { detail: `the gateway cannot be reached (${err.message})`, code: "NETWORK" });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401) onSignedOut();
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("X-Request-ID"));
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/** The sign-in state: {authRequired, authenticated, csrfToken}. */
export async function session() {
  const response = await fetch("/auth/session", { credentials: "same-origin" });
  return response.json();
}

export const enc = encodeURIComponent;
