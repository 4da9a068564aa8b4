// The JSON API: one request helper, the session (token in sessionStorage, never in a URL)
// and the server's clock offset (for hold countdowns).

const TOKEN = "trolley.token";
let clockOffset = 0;

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set token(t) { t ? sessionStorage.setItem(TOKEN, t) : sessionStorage.removeItem(TOKEN); },
  item(key) { return sessionStorage.getItem(`trolley.${key}`); },
  setItem(key, v) {
    v == null ? sessionStorage.removeItem(`trolley.${key}`) : sessionStorage.setItem(`trolley.${key}`, v);
  },
};

/** An answer that was not a 2xx: the contract's `{error: {code, message, ...}}`. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || "unknown";
    this.detail = error;
  }
}

/** Milliseconds on the server's clock now (from the last answer's Date header). */
export function serverNow() { return Date.now() + clockOffset; }

function noteClock(response) {
  const date = Date.parse(response.headers.get("date") || "");
  if (!Number.isNaN(date)) clockOffset = date + 500 - Date.now();
}

/** Sends a request; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = {};
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "The server cannot be reached. Try again." });
  }
  noteClock(response);
  const text = await response.text();
  const parsed = text ? safeJson(text) : null;
  if (!response.ok) {
    if (response.status === 401 && session.token) session.token = null;
    throw new ApiError(response.status, (parsed && parsed.error) || {});
  }
  return parsed;
}

function safeJson(text) {
  try { return JSON.parse(text); } catch { return null; }
}

/** Every item of a paged resource (`/products`, `/orders`), following `next` page by page. */
export async function allPages(path) {
  const items = [];
  let after = 0;
  for (;;) {
    const page = await api("GET", `${path}?limit=500&after=${after}`);
    items.push(...page.items);
    if (page.next == null) return items;
    after = page.next;
  }
}

/** Every product. */
export const allProducts = () => allPages("/products");

/** Logs in; keeps the token; resolves to `/me`. */
export async function logIn(username, password) {
  const login = await api("POST", "/login", { username, password });
  session.token = login.token;
  return api("GET", "/me");
}

export async function logOut() {
  try { await api("POST", "/logout"); } catch { /* the token is dropped anyway */ }
  session.token = null;
}
