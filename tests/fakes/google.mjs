// A fake Google for the tests: the OAuth token endpoint of a service
// account (JWT bearer grant) and Sheets values.get / values.append, which
// keep rows in memory.
//
// The token endpoint checks the assertion as Google does: RS256 signature
// against the test key's public half, iss = the service account, aud = the
// Google token URL or this endpoint, a scope, iat/exp no more than an hour
// apart and not expired. Sheets calls need a token it issued, not expired
// and not revoked (401 UNAUTHENTICATED otherwise), and a spreadsheet shared
// with the account (403 PERMISSION_DENIED otherwise).
//
// Faults: failNext('token' | 'sheets', n, status) answers status (401, 403,
// 429, 500, ...) to the next n calls of that kind; revokeTokens() makes every
// token issued so far answer 401; appendThenFail(n) stores the next n
// appends but answers 500 (a reply lost after the write); holdAppends(ms)
// stores appends at once but answers only after ms.

import { createServer } from 'node:http';
import { createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';

export const GOOGLE_TOKEN_AUD = 'https://oauth2.googleapis.com/token';

const STATUS_TEXT = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };
const MESSAGES = {
    401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    403: 'The caller does not have permission',
    404: 'Requested entity was not found.',
    429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user'",
    500: 'Internal error encountered.',
    503: 'The service is currently unavailable.',
};

function b64urlJson(s) {
    return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
}

function sendJson(res, status, obj, headers = {}) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8',
        'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
}

function googleError(res, status, message) {
    sendJson(res, status, { error: { code: status, message: message || MESSAGES[status] || 'error',
        status: STATUS_TEXT[status] || 'UNKNOWN' } }, status === 429 ? { 'retry-after': '1' } : {});
}

// Column letters → 0-based index ("A" → 0, "AB" → 27).
function colIndex(letters) {
    let n = 0;
    for (const c of letters.toUpperCase()) n = n * 26 + (c.charCodeAt(0) - 64);
    return n - 1;
}

export async function startFakeGoogle({ publicKeyPem, clientEmail, spreadsheets = ['sheet-test'],
    sharedWith = null, expiresIn = 3599, port = 0 } = {}) {
    const publicKey = createPublicKey(publicKeyPem);
    const state = {
        tokens: new Map(),          // token → { exp, revoked }
        sheets: new Map(spreadsheets.map((id) => [id, { rows: [] }])),
        shared: sharedWith ?? clientEmail,
        failures: { token: [], sheets: [] },
        appendThenFail: 0,
        holdMs: 0,
        holds: new Map(),           // resolve → timer of held appends
        calls: [],                  // { kind, method, path, status }
    };
    let baseUrl = '';

    function releaseHolds() {
        for (const [resolve, timer] of state.holds) {
            clearTimeout(timer);
            resolve();
        }
        state.holds.clear();
    }

    function tokenEndpoint(form) {
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
            return [400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + form.get('grant_type') }];
        }
        const parts = (form.get('assertion') || '').split('.');
        if (parts.length !== 3) return [400, { error: 'invalid_request', error_description: 'Invalid JWT.' }];
        let header, claims;
        try {
            header = b64urlJson(parts[0]);
            claims = b64urlJson(parts[1]);
        } catch {
            return [400, { error: 'invalid_grant', error_description: 'Invalid JWT.' }];
        }
        if (header.alg !== 'RS256') return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: alg must be RS256.' }];
        const ok = verifySignature('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey,
            Buffer.from(parts[2], 'base64url'));
        if (!ok) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }];
        if (claims.iss !== clientEmail) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: unknown issuer ' + claims.iss }];
        if (claims.aud !== GOOGLE_TOKEN_AUD && claims.aud !== `${baseUrl}/token`) {
            return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: audience ' + claims.aud }];
        }
        if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes('https://www.googleapis.com/auth/spreadsheets')) {
            return [400, { error: 'invalid_scope', error_description: 'Invalid OAuth scope or ID token audience provided.' }];
        }
        const now = Math.floor(Date.now() / 1000);
        const skewed = 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
        if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || claims.exp <= claims.iat
            || claims.exp - claims.iat > 3600 || claims.iat > now + 60 || claims.exp < now) {
            return [400, { error: 'invalid_grant', error_description: skewed }];
        }
        const token = 'ya29.fake-' + randomBytes(24).toString('base64url');
        state.tokens.set(token, { exp: Date.now() + expiresIn * 1000, revoked: false });
        return [200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer' }];
    }

    function authorized(req) {
        const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
        const t = m && state.tokens.get(m[1]);
        return t && !t.revoked && t.exp > Date.now();
    }

    // The columns [from, to] of a range like "Sheet1!A:A" or "Sheet1!A1".
    function parseRange(range) {
        const bang = range.lastIndexOf('!');
        const cells = bang < 0 ? '' : range.slice(bang + 1);
        const m = /^([A-Z]+)\d*(?::([A-Z]+)\d*)?$/i.exec(cells);
        if (!m) return [0, 25];
        return [colIndex(m[1]), colIndex(m[2] || 'Z')];
    }

    async function sheetsCall(req, res, url, body) {
        const m = /^\/v4\/spreadsheets\/([^/]+)\/values\/([^?]+)$/.exec(url.pathname);
        if (!m) return googleError(res, 404, 'Not found: ' + url.pathname);
        if (!authorized(req)) return googleError(res, 401);
        const sheet = state.sheets.get(decodeURIComponent(m[1]));
        if (!sheet) return googleError(res, 404);
        if (state.shared !== clientEmail) return googleError(res, 403);
        let rangeRaw = m[2];
        const append = rangeRaw.endsWith(':append');
        if (append) rangeRaw = rangeRaw.slice(0, -':append'.length);
        const range = decodeURIComponent(rangeRaw);
        if (req.method === 'GET' && !append) {
            const [from, to] = parseRange(range);
            const cols = url.searchParams.get('majorDimension') === 'COLUMNS';
            const unformatted = url.searchParams.get('valueRenderOption') === 'UNFORMATTED_VALUE';
            const cell = (v) => (unformatted || typeof v === 'string' ? v : String(v));
            const rows = sheet.rows.map((r) => r.slice(from, to + 1).map(cell));
            const out = { range, majorDimension: cols ? 'COLUMNS' : 'ROWS' };
            if (rows.length) {
                if (cols) {
                    const width = Math.max(...rows.map((r) => r.length));
                    out.values = [];
                    for (let c = 0; c < width; c++) out.values.push(rows.map((r) => r[c] ?? ''));
                } else out.values = rows;
            }
            return sendJson(res, 200, out);
        }
        if (req.method === 'POST' && append) {
            const vio = url.searchParams.get('valueInputOption');
            if (vio !== 'RAW' && vio !== 'USER_ENTERED') return googleError(res, 400, "Invalid valueInputOption: '" + vio + "'");
            let parsed;
            try { parsed = JSON.parse(body); } catch { return googleError(res, 400, 'Invalid JSON payload received.'); }
            if (!Array.isArray(parsed.values)) return googleError(res, 400, 'values must be a list');
            const first = sheet.rows.length + 1;
            for (const row of parsed.values) sheet.rows.push(row);
            const reply = { spreadsheetId: m[1], tableRange: first > 1 ? `${range.split('!')[0]}!A1:N${first - 1}` : undefined,
                updates: { spreadsheetId: m[1], updatedRange: `${range.split('!')[0]}!A${first}:N${sheet.rows.length}`,
                    updatedRows: parsed.values.length, updatedColumns: Math.max(...parsed.values.map((r) => r.length)),
                    updatedCells: parsed.values.reduce((a, r) => a + r.length, 0) } };
            if (state.appendThenFail > 0) {
                state.appendThenFail -= 1;
                return googleError(res, 500);
            }
            if (state.holdMs > 0) {
                await new Promise((r) => {
                    const timer = setTimeout(() => { state.holds.delete(r); r(); }, state.holdMs);
                    state.holds.set(r, timer);
                });
            }
            return sendJson(res, 200, reply);
        }
        return googleError(res, 404, 'Not found');
    }

    const server = createServer(async (req, res) => {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const body = Buffer.concat(chunks).toString('utf8');
        const url = new URL(req.url, baseUrl);
        const kind = url.pathname === '/token' ? 'token' : 'sheets';
        const call = { kind, method: req.method, path: url.pathname, status: 0 };
        state.calls.push(call);
        res.on('finish', () => { call.status = res.statusCode; });
        try {
            const injected = state.failures[kind].shift();
            if (injected) {
                if (kind === 'token') return sendJson(res, injected, injected >= 500
                    ? { error: 'internal_failure', error_description: 'Backend error' }
                    : { error: 'invalid_grant', error_description: 'Invalid grant: account not found' });
                return googleError(res, injected);
            }
            if (kind === 'token') {
                if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request' });
                const [status, obj] = tokenEndpoint(new URLSearchParams(body));
                return sendJson(res, status, obj);
            }
            return await sheetsCall(req, res, url, body);
        } catch (e) {
            if (!res.headersSent) googleError(res, 500, String(e && e.stack || e));
        }
    });
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${server.address().port}`;

    return {
        url: baseUrl,
        tokenUrl: `${baseUrl}/token`,
        state,
        rows(id) {
            return state.sheets.get(id)?.rows ?? null;
        },
        failNext(kind, n, status) {
            for (let i = 0; i < n; i++) state.failures[kind].push(status);
        },
        clearFailures() {
            state.failures.token.length = 0;
            state.failures.sheets.length = 0;
        },
        revokeTokens() {
            for (const t of state.tokens.values()) t.revoked = true;
        },
        appendThenFail(n) {
            state.appendThenFail = n;
        },
        // ms 0 also releases the appends held so far.
        holdAppends(ms) {
            state.holdMs = ms;
            if (!ms) releaseHolds();
        },
        share(email) {
            state.shared = email;
        },
        calls(kind, status) {
            return state.calls.filter((c) => (!kind || c.kind === kind) && (!status || c.status === status));
        },
        async stop() {
            releaseHolds();
            server.closeAllConnections?.();
            await new Promise((r) => server.close(r));
        },
    };
}
