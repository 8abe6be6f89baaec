// The one way the dashboard talks to /api: JSON in and out, the session
// cookie, and the CSRF header that a cookie-authenticated write must carry.

export class ApiError extends Error {
  constructor(status, code, message, field = null, fields = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
    this.fields = fields;
  }
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// Every API error body is {"error":{code,message,field?,fields?}}; anything
// else (an nginx 502 page, a dropped connection) becomes an ApiError too, so
// callers handle one kind of failure.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (WRITE_METHODS.has(method)) headers['X-Requested-With'] = 'vf-dashboard';
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }

  if (res.status === 204) return null;

  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('application/json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }

  if (res.ok) {
    if (data === null) throw new ApiError(res.status, 'bad_response', 'The server sent an answer the dashboard cannot read.');
    return data;
  }

  const err = data && typeof data.error === 'object' && data.error ? data.error : null;
  if (err) {
    const fields = Array.isArray(err.fields)
      ? err.fields.map((f) => ({ ...f, message: sentence(f?.message) }))
      : null;
    throw new ApiError(res.status, String(err.code || 'error'),
      sentence(err.message) || `The request failed (HTTP ${res.status}).`,
      typeof err.field === 'string' ? err.field : null,
      fields);
  }
  throw new ApiError(res.status, 'http_' + res.status, statusSentence(res.status));
}

// The API words its messages in lower case without a full stop ("wrong user
// name or password"); on the page they stand alone, so they read as sentences.
export function sentence(message) {
  const s = typeof message === 'string' ? message.trim() : '';
  if (!s) return '';
  // A leading identifier (fonts_dir, /path) keeps its spelling.
  const first = /^\S*[_/]/.test(s) ? s : s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(first) ? first : first + '.';
}

function statusSentence(status) {
  if (status === 502 || status === 503 || status === 504) {
    return `The service is unavailable right now (HTTP ${status}). Try again in a moment.`;
  }
  return `The request failed (HTTP ${status}).`;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

// Runs fn with the button disabled and marked busy, so a second click cannot
// send the same request twice.
export async function withBusy(button, fn) {
  const buttons = Array.isArray(button) ? button : [button];
  for (const b of buttons) {
    if (!b) continue;
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
  }
  try {
    return await fn();
  } finally {
    for (const b of buttons) {
      if (!b) continue;
      b.disabled = false;
      b.removeAttribute('aria-busy');
    }
  }
}
