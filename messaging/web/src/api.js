// HTTP to the Liaison server of this origin: JSON requests, problem documents (RFC 9457) as
// ApiError. Bodies are sent as canonical JSON, so that nothing non-canonical ever leaves.
import { canonicalText } from "./encoding.js";

export const TRANSIENT_STATUSES = new Set([0, 429, 502, 503, 504]);

export class ApiError extends Error {
  constructor(status, code, detail, problem = {}, retryAfter = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  get transient() {
    return TRANSIENT_STATUSES.has(this.status);
  }
}

/** A URL path from raw segments, each percent-encoded (":" kept, as in principal ids). */
export function urlPath(...parts) {
  return `/${parts.map((part) => encodeURIComponent(part).replaceAll("%3A", ":")).join("/")}`;
}

async function problemOf(response) {
  let problem = {};
  try {
    const parsed = await response.json();
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) problem = parsed;
  } catch {
    // not a problem document: the status alone speaks
  }
  const retry = Number.parseFloat(response.headers.get("Retry-After") ?? "");
  return new ApiError(
    response.status,
    typeof problem.code === "string" ? problem.code : `http_${response.status}`,
    typeof problem.detail === "string" ? problem.detail : response.statusText || "error",
    problem,
    Number.isFinite(retry) ? retry : null,
  );
}

/** A request whose body or answer is bytes (blobs): the Response once it is a success, or the
 * problem as ApiError; a connection that fails is ApiError 0 ``server_unreachable``. */
export async function rawRequest(method, path, { token, headers = {}, body } = {}) {
  const init = {
    method,
    headers: { ...headers, Authorization: `Bearer ${token}` },
    body,
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  };
  let response;
  try {
    response = await fetch(new URL(path, window.location.origin), init);
  } catch {
    throw new ApiError(0, "server_unreachable", `${method} ${path}: the server does not answer`);
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

export async function request(method, path, { token = null, body, params } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params ?? {})) url.searchParams.set(name, value);
  const headers = { Accept: "application/json" };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = canonicalText(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "server_unreachable", `${method} ${path}: the server does not answer`);
  }
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return null;
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(response.status, "bad_response", `${method} ${path} did not answer JSON`);
  }
}
