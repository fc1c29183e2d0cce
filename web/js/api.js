// @ts-check
// The one client for the public API: unwraps `{data, meta}`, turns error envelopes into ApiError,
// keeps the access token in memory, and rotates it. The refresh token is an HttpOnly cookie
// (scoped to /auth/refresh) that script never sees: every /auth/ call asks for that transport
// with TRANSPORT_HEADER, which is also the refresh endpoint's CSRF check (docs/auth.md).

const TRANSPORT_HEADER = { "x-token-transport": "cookie" };
// Not a secret: "this browser has a session cookie", so a visitor's page load makes no refresh
// call, and the other tabs follow a sign-out (the storage event).
const SIGNED_IN_KEY = "persona.signed_in";
// Where versions before the cookie kept the refresh token: used once to get the cookie, then gone.
const OLD_REFRESH_KEY = "persona.refresh_token";
const LOCK_NAME = "persona-refresh";

/**
 * The signed-in account as `GET /auth/me` answers it (the fields the UI reads).
 * @typedef {{id: string, email?: string, display_name?: string, [key: string]: any}} User
 */

/**
 * Why the server ended a session (see `forget`).
 * @typedef {{reason: string}} Ended
 */

/**
 * A request's options. `auth: false` sends no access token.
 * @typedef {object} RequestOptions
 * @property {any} [body] JSON, or FormData / Blob sent as they are
 * @property {Record<string, unknown>} [query] empty values are left out
 * @property {boolean} [auth]
 * @property {Record<string, string>} [headers]
 */

/**
 * A token pair from register, login, code verify or refresh.
 * @typedef {{access_token: string, expires_in?: number, user?: User | null}} TokenPair
 */

export class ApiError extends Error {
  /**
   * @param {number} status 0 when no answer came
   * @param {string} code
   * @param {string} message readable, for people
   * @param {Record<string, unknown>} [details]
   * @param {string} [requestId]
   */
  constructor(status, code, message, details = {}, requestId = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.requestId = requestId;
  }

  /** The request field the server blamed (`name`, `tags[2]`, `query.q`), or "". */
  get field() {
    return typeof this.details.field === "string" ? this.details.field : "";
  }
}

const session = {
  /** @type {string | null} */
  accessToken: null,
  expiresAt: 0,
  /** @type {User | null} */
  user: null,
  /** @type {Promise<boolean> | null} */
  refreshing: null,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  timer: undefined,
  /** Why the server ended the last session (`forget`), until someone signs in again. */
  /** @type {string | null} */
  ended: null,
};
/** @type {Set<(user: User | null, ended: Ended | null) => void>} */
const listeners = new Set();

export function currentUser() {
  return session.user;
}

export function signedIn() {
  return session.user !== null && session.accessToken !== null;
}

export function accessToken() {
  return session.accessToken;
}

/** Why the server ended this tab's last session ("revoked", "ended", "everywhere"), or null. */
export function endedReason() {
  return session.ended;
}

/**
 * `fn(user | null, ended)` runs whenever the user signs in, out, or their profile changes.
 * `ended` is set when the server ended the session rather than the person signing out here:
 * `{reason: "revoked" | "ended" | "everywhere"}` (see `forget`).
 */
/** @param {(user: User | null, ended: Ended | null) => void} fn */
export function onAuthChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** @param {Ended | null} ended */
function emit(ended = null) {
  for (const fn of listeners) fn(session.user, ended);
}

/** @param {User | null} user */
export function setUser(user) {
  session.user = user;
  emit();
}

/** @param {string} key */
function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Whether a refresh may restore a session: the cookie is set, or an old stored token is left. */
function storedRefresh() {
  return stored(SIGNED_IN_KEY) !== null || stored(OLD_REFRESH_KEY) !== null;
}

/** Keep a token pair from register, login, code verify or refresh (its refresh token is the cookie). */
/** @param {TokenPair} pair */
export function adoptTokens(pair) {
  session.accessToken = pair.access_token;
  session.ended = null;
  session.expiresAt = Date.now() + (pair.expires_in || 900) * 1000;
  localStorage.setItem(SIGNED_IN_KEY, "1");
  localStorage.removeItem(OLD_REFRESH_KEY);
  if (pair.user) session.user = pair.user;
  clearTimeout(session.timer);
  // Rotate a minute before expiry so a long chat never meets a 401 mid-stream.
  const ms = Math.max(10_000, (pair.expires_in || 900) * 1000 - 60_000);
  session.timer = setTimeout(() => refresh().catch(() => {}), ms);
  emit();
}

/**
 * Drop this device's tokens. `reason` says why when it was not this person signing out here:
 * "revoked" (the live stream said the session was revoked), "ended" (the server refused the
 * refresh token: revoked, expired or reused), "everywhere" (this person signed out everywhere).
 */
/** @param {string | null} reason */
export function forget(reason = null) {
  clearTimeout(session.timer);
  session.accessToken = null;
  session.expiresAt = 0;
  session.user = null;
  session.ended = reason;
  localStorage.removeItem(SIGNED_IN_KEY);
  localStorage.removeItem(OLD_REFRESH_KEY);
  emit(reason ? { reason } : null);
}

/**
 * @template T
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withLock(fn) {
  // Two tabs rotating the same refresh token at once would look like token theft to the
  // server (reuse detection revokes the session); the Web Locks API serialises them.
  if (navigator.locks?.request) return navigator.locks.request(LOCK_NAME, fn);
  return fn();
}

/**
 * Rotate the refresh token; resolves true when signed in afterwards. One rotation at a time.
 * @returns {Promise<boolean>}
 */
export function refresh() {
  if (!session.refreshing) {
    const seen = session.accessToken;
    session.refreshing = withLock(async () => {
      // Another call or tab may have rotated while we waited for the lock.
      if (session.accessToken && session.accessToken !== seen) return true;
      if (!storedRefresh()) return false;
      // The cookie goes by itself; a token left by an older version is exchanged for the cookie.
      const old = stored(OLD_REFRESH_KEY);
      try {
        const pair = await call("POST", "/auth/refresh", { body: old ? { refresh_token: old } : {}, auth: false });
        adoptTokens(pair);
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status > 0 && err.status < 500) {
          // Dead or reused refresh token: the session is gone, this device is signed out.
          forget("ended");
          return false;
        }
        throw err;
      }
    }).finally(() => {
      session.refreshing = null;
    });
  }
  return session.refreshing;
}

/** On page load: the refresh cookie becomes a session again (no request when never signed in). */
export async function restore() {
  if (!storedRefresh()) return false;
  const ok = await refresh();
  if (ok && !session.user) session.user = await call("GET", "/auth/me");
  emit();
  return ok;
}

// Another tab signed out (or in): follow it.
window.addEventListener("storage", (event) => {
  if (event.key !== SIGNED_IN_KEY) return;
  if (event.newValue === null && session.user) {
    clearTimeout(session.timer);
    session.accessToken = null;
    session.user = null;
    emit();
  }
});

/**
 * @param {string} path
 * @param {Record<string, unknown>} [query]
 */
function buildUrl(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** @returns {Record<string, string>} */
export function authHeaders() {
  return session.accessToken ? { authorization: `Bearer ${session.accessToken}` } : {};
}

/** @param {Response} response */
async function errorFrom(response) {
  /** @type {any} */
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const info = body?.error ? body.error : null;
  const requestId = body?.meta?.request_id || response.headers.get("x-request-id") || "";
  if (info) {
    let message = readable(info.message || response.statusText, info.details || {});
    const retry = response.headers.get("retry-after");
    if (response.status === 429 && retry) message += ` Try again in ${retry} s.`;
    return new ApiError(response.status, info.code || "error", message, info.details || {}, requestId);
  }
  return new ApiError(
    response.status,
    "http_error",
    `The server answered ${response.status} ${response.statusText}.`,
    {},
    requestId,
  );
}

/**
 * msgspec's "Expected `str` of length <= 80 (name)" → "Must be at most 80 characters."
 * @param {unknown} message
 * @param {Record<string, unknown>} [details]
 */
export function readable(message, details = {}) {
  let text = String(message || "").trim();
  const field = typeof details.field === "string" ? details.field : "";
  if (field) text = text.replace(new RegExp(`\\s*\\(${escapeRx(field)}\\)$`), "");
  /** @type {[RegExp, (m: RegExpMatchArray) => string][]} */
  const rules = [
    [/^Expected `str` of length <= (\d+)$/, (m) => `Must be at most ${m[1]} characters.`],
    [
      /^Expected `str` of length >= (\d+)$/,
      (m) => (m[1] === "1" ? "Required." : `Must be at least ${m[1]} characters.`),
    ],
    [/^Expected `array` of length <= (\d+)$/, (m) => `At most ${m[1]} items.`],
    [/^Expected `array` of length >= (\d+)$/, (m) => `At least ${m[1]} items.`],
    [/^Expected `str` matching regex .*$/, () => "Has an invalid format."],
    [/^Object missing required field `([^`]+)`$/, () => "Required."],
    [/^Invalid enum value '([^']*)'$/, (m) => `"${m[1]}" is not one of the allowed values.`],
  ];
  for (const [rx, out] of rules) {
    const m = text.match(rx);
    if (m) return out(m);
  }
  if (text && !/[.!?]$/.test(text)) text += ".";
  return text ? text[0].toUpperCase() + text.slice(1) : "Something went wrong.";
}

/** @param {string} s */
function escapeRx(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 */
async function send(method, path, { body, query, auth = true, headers = {} } = {}) {
  /** @type {RequestInit & {headers: Record<string, string>}} */
  const init = { method, headers: { accept: "application/json", ...headers } };
  if (path.startsWith("/auth/")) Object.assign(init.headers, TRANSPORT_HEADER);
  if (auth) Object.assign(init.headers, authHeaders());
  if (body instanceof FormData || body instanceof Blob) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(buildUrl(path, query), init);
  } catch {
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.");
  }
}

/**
 * The answer's `data` (null for 204): JSON as the API sends it, each caller reads its fields.
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<any>}
 */
export async function call(method, path, options = {}) {
  const envelope = await callEnvelope(method, path, options);
  return envelope === null ? null : envelope.data;
}

// A visitor's first page data, asked for at boot while the page's module loads (app.js), handed
// once to the page's identical call. Never for a member: their answer depends on who asks.
/** @type {Map<string, Promise<Response | null>>} */
const early = new Map();

/**
 * `onData(data)` when the answer arrives, read from a copy: the view still gets the answer whole.
 * @param {string} path
 * @param {Record<string, unknown>} [query]
 * @param {((data: any) => void) | null} [onData]
 */
export function prefetch(path, query, onData = null) {
  if (session.accessToken || storedRefresh()) return;
  const url = buildUrl(path, query);
  const response = early.get(url) || send("GET", path, { query, auth: false }).catch(() => null);
  early.set(url, response);
  if (onData)
    response
      .then((r) => (r?.ok ? r.clone().json() : null))
      .then((body) => body && onData(body.data))
      .catch(() => {}); // the view reads the answer itself and shows what went wrong
}

/**
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} options
 */
async function sendOrEarly(method, path, options) {
  const url = method === "GET" && !session.accessToken ? buildUrl(path, options.query) : null;
  const waiting = url === null ? undefined : early.get(url);
  if (url === null || waiting === undefined) return send(method, path, options);
  early.delete(url);
  return (await waiting) || send(method, path, options);
}

/**
 * The whole envelope `{data, meta}` (for paginated lists), or null for 204.
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<{data: any, meta: Record<string, any>} | null>}
 */
export async function callEnvelope(method, path, options = {}) {
  const auth = options.auth !== false;
  if (auth && !session.accessToken && storedRefresh()) await refresh();
  let response = await sendOrEarly(method, path, options);
  if (response.status === 401 && auth && storedRefresh()) {
    // The access token expired or its session was rotated elsewhere: rotate once and retry.
    if (await refresh()) response = await send(method, path, options);
  }
  if (response.status === 401 && auth && session.user) forget("ended");
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  if (!type.includes("json")) return { data: await response.blob(), meta: {} };
  const json = await response.json();
  return json && "data" in json ? json : { data: json, meta: {} };
}

export const api = {
  /**
   * @param {string} path
   * @param {Record<string, unknown>} [query]
   * @param {RequestOptions} [options]
   */
  get: (path, query, options = {}) => call("GET", path, { ...options, query }),
  /**
   * @param {string} path
   * @param {unknown} [body]
   * @param {RequestOptions} [options]
   */
  post: (path, body, options = {}) => call("POST", path, { ...options, body }),
  /**
   * @param {string} path
   * @param {unknown} [body]
   * @param {RequestOptions} [options]
   */
  put: (path, body, options = {}) => call("PUT", path, { ...options, body }),
  /**
   * @param {string} path
   * @param {unknown} [body]
   * @param {RequestOptions} [options]
   */
  patch: (path, body, options = {}) => call("PATCH", path, { ...options, body }),
  /**
   * @param {string} path
   * @param {RequestOptions} [options]
   */
  del: (path, options = {}) => call("DELETE", path, options),
  /**
   * `{items, next}` for a cursor-paginated list (`meta.next_cursor`).
   * @param {string} path
   * @param {Record<string, unknown>} [query]
   * @returns {Promise<{items: any[], next: string | null}>}
   */
  async page(path, query) {
    const envelope = await callEnvelope("GET", path, { query });
    return { items: envelope?.data || [], next: envelope?.meta?.next_cursor || null };
  },
  /**
   * A raw Response (for downloads such as card exports), after the same token handling.
   * @param {string} path
   */
  async download(path) {
    if (!session.accessToken && storedRefresh()) await refresh();
    let response = await send("GET", path, { headers: { accept: "*/*" } });
    if (response.status === 401 && storedRefresh() && (await refresh())) {
      response = await send("GET", path, { headers: { accept: "*/*" } });
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  },
};

/**
 * Upload with XMLHttpRequest, whose `upload.onprogress` reports bytes sent (fetch cannot).
 * `onProgress(sent, total)`; resolves with the unwrapped `data`; `abort()` on the returned handle.
 */
/**
 * @param {string} path
 * @param {FormData} formData
 * @param {(sent: number, total: number) => void} [onProgress]
 * @returns {{promise: Promise<any>, abort: () => void}}
 */
export function upload(path, formData, onProgress) {
  /** @type {XMLHttpRequest | null} */
  let xhr = null;
  /** @returns {Promise<XMLHttpRequest>} */
  const attempt = () =>
    new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", path);
      request.setRequestHeader("accept", "application/json");
      if (session.accessToken) request.setRequestHeader("authorization", `Bearer ${session.accessToken}`);
      request.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : 0);
      request.onload = () => resolve(request);
      request.onerror = () =>
        reject(new ApiError(0, "network", "The upload was interrupted. Check your connection and try again."));
      request.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
      xhr = request;
      request.send(formData);
    });
  const promise = (async () => {
    if (!session.accessToken && storedRefresh()) await refresh();
    let done = await attempt();
    if (done.status === 401 && storedRefresh() && (await refresh())) done = await attempt();
    const response = new Response(done.status === 204 ? null : done.responseText, {
      status: done.status,
      headers: { "content-type": done.getResponseHeader("content-type") || "application/json" },
    });
    if (!response.ok) throw await errorFrom(response);
    const json = await response.json();
    return json.data;
  })();
  return { promise, abort: () => xhr?.abort() };
}
