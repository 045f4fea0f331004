// The one way the client talks to the server: Chirp's public (Mastodon) API, with the stored token.

const TOKEN_KEY = 'chirp.token';
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Called with the failed request's error when the server says the stored token is no longer valid. */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

export function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of [value].flat()) params.append(Array.isArray(value) ? `${key}[]` : key, String(item));
  }
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

/** The `next` (older) page of a Link header, as a same-origin path with its query. */
export function nextLink(response) {
  const header = response.headers.get('Link') || '';
  for (const part of header.split(',')) {
    const match = part.match(/<([^>]+)>\s*;\s*rel="next"/);
    if (match) {
      const url = new URL(match[1], location.origin);
      return url.pathname + url.search;
    }
  }
  return null;
}

/**
 * A request to the API: `json` or `form` for a body, `query` for parameters. Returns the parsed body
 * (or, with `raw`, { body, response }). Errors are ApiError with the server's `error` message.
 */
export async function api(path, { method = 'GET', query, json, form, auth = token(), signal, headers = {}, raw } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json', ...headers } };
  if (auth) init.headers.Authorization = `Bearer ${auth}`;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form instanceof FormData ? form : new URLSearchParams(form);
  }
  let response;
  try {
    response = await fetch(withQuery(path, query), init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.', null);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && (body.error_description || body.error)) || `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, message, body);
    if (response.status === 401 && auth && auth === token()) listeners.forEach((fn) => fn(error));
    throw error;
  }
  return raw ? { body, response } : body;
}

/** One page of a paginated list: its items and the path of the next (older) page, or null at the end. */
export async function page(path, options = {}) {
  const { body, response } = await api(path, { ...options, raw: true });
  return { items: body || [], next: nextLink(response) };
}
