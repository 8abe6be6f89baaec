// Hostile requests through nginx against a real stack: every row gets its
// exact 4xx status and error code as JSON with the security headers, writes
// nothing to the database, and crashes nothing. Then the limits: rate limits
// on login and job creation, sessions and tokens that really end.
//
// Each request leaves from its own loopback address (127.0.0.x), so nginx's
// per-address rate limits meet only the tests that are about them.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, readEvents, stackTest } from './harness.mjs';
import { openStream } from '../bench/sse-client.mjs';

const SCRIPT_TIMEOUT = 60_000;
const MAX_BODY = 262144;        // vf-api's max_body_bytes (the default)
const NGINX_MAX_BODY = 2 << 20; // client_max_body_size
const RATE_ADDRESSES = { login: '127.0.0.250', login2: '127.0.0.251', jobs: '127.0.0.252',
    jobs2: '127.0.0.253' };

let stack;
let host;
let port;
let mallory;        // a plain user: { token, cookie }
let R;              // the admin's job waiting in SCRIPT_READY
let pidsBefore;

let nextAddress = 10;
function freshAddress() {
    const a = `127.0.0.${nextAddress}`;
    nextAddress = nextAddress >= 239 ? 10 : nextAddress + 1;
    return a;
}

before(async () => {
    stack = await startStack({ VF_X264_PRESET: 'ultrafast', VF_MAX_UNFINISHED_JOBS: '5' });
    const u = new URL(stack.url);
    host = u.hostname;
    port = Number(u.port);
    pidsBefore = programPids();
    stack.addUser('mallory', 'mallory-password-1', 'user');
    mallory = { token: stack.createToken('mallory', 'hostile') };
    const login = await request('POST', '/api/auth/login',
        { body: JSON.stringify({ username: 'mallory', password: 'mallory-password-1' }) });
    assert.equal(login.status, 200, `mallory logs in: ${login.text}`);
    mallory.cookie = /(vf_session=[0-9a-f]{64})/.exec(login.headers['set-cookie'].join(';'))[1];
    const job = await request('POST', '/api/jobs/step-script', { token: stack.token,
        body: JSON.stringify({ topic: 'the quiet life of lighthouse keepers',
            options: { duration_s: 15, resolution: 720 } }) });
    assert.equal(job.status, 202, job.text);
    R = job.json.job.id;
    await stack.waitForState(R, ['SCRIPT_READY'], SCRIPT_TIMEOUT);
}, { timeout: 360_000 });

after(async () => {
    if (stack) await stack.stop();
}, { timeout: 130_000 });

const it = stackTest(() => stack, 120_000);

// ---- HTTP: node:http for well-formed requests, a socket for the rest ----

function parseBody(status, headers, bytes) {
    const text = bytes.toString('utf8');
    let json = null;
    if (/json/.test(headers['content-type'] || '')) {
        try { json = JSON.parse(text); } catch { json = null; }
    }
    return { status, headers, text, json, bytes };
}

// opts: headers, body (string or Buffer), token, cookie, csrf, from (address).
function request(method, path, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.cookie) headers.cookie = opts.cookie;
    if (opts.csrf) headers['x-requested-with'] = 'vf-dashboard';
    const lower = Object.keys(headers).map((k) => k.toLowerCase());
    if (opts.body !== undefined && !lower.includes('content-type') && opts.contentType !== null) {
        headers['content-type'] = 'application/json';
    }
    return new Promise((resolve, reject) => {
        const req = http.request({ host, port, method, path, headers, agent: false,
            localAddress: opts.from || freshAddress() }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const h = {};
                for (const [k, v] of Object.entries(res.headers)) h[k] = v;
                if (h['set-cookie'] === undefined) h['set-cookie'] = [];
                resolve(parseBody(res.statusCode, h, Buffer.concat(chunks)));
            });
            res.on('error', reject);
        });
        req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
        req.on('error', reject);
        if (opts.body !== undefined) req.write(opts.body);
        req.end();
    });
}

function decodeChunked(buf) {
    const out = [];
    let off = 0;
    for (;;) {
        const nl = buf.indexOf('\r\n', off);
        if (nl < 0) break;
        const size = parseInt(buf.toString('latin1', off, nl), 16);
        if (!(size > 0)) break;
        out.push(buf.subarray(nl + 2, nl + 2 + size));
        off = nl + 2 + size + 2;
    }
    return Buffer.concat(out);
}

// Sends bytes as they are and reads the answer until nginx closes.
function rawRequest(bytes, from = freshAddress()) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host, port, localAddress: from });
        const chunks = [];
        sock.setTimeout(15_000, () => sock.destroy(new Error('raw request: no answer in 15 s')));
        sock.on('data', (c) => chunks.push(c));
        sock.on('error', reject);
        sock.on('close', () => {
            const all = Buffer.concat(chunks);
            const end = all.indexOf('\r\n\r\n');
            if (end < 0) return reject(new Error(`raw request: no HTTP answer: ${all.toString('latin1').slice(0, 200)}`));
            const lines = all.toString('latin1', 0, end).split('\r\n');
            const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
            const headers = { 'set-cookie': [] };
            for (const line of lines.slice(1)) {
                const c = line.indexOf(':');
                const k = line.slice(0, c).trim().toLowerCase();
                const v = line.slice(c + 1).trim();
                if (k === 'set-cookie') headers[k].push(v);
                else headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
            }
            let body = all.subarray(end + 4);
            if (/chunked/i.test(headers['transfer-encoding'] || '')) body = decodeChunked(body);
            resolve(parseBody(status, headers, body));
        });
        // Not end(): nginx takes a half-closed connection for a client
        // that went away (499) before vf-api answers.
        sock.write(bytes);
    });
}

// ---- what every answer must carry ----

function checkSecurityHeaders(r, ctx) {
    const csp = r.headers['content-security-policy'] || '';
    assert.match(csp, /default-src 'self'/, `CSP default-src: ${ctx}`);
    assert.match(csp, /frame-ancestors 'none'/, `CSP frame-ancestors: ${ctx}`);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', `X-Content-Type-Options: ${ctx}`);
    assert.equal(r.headers['referrer-policy'], 'same-origin', `Referrer-Policy: ${ctx}`);
}

function expectError(r, status, code, ctx) {
    const where = `${ctx} → ${r.status} ${r.text.slice(0, 300)}`;
    assert.equal(r.status, status, `status: ${where}`);
    assert.match(r.headers['content-type'] || '', /^application\/json/, `content type: ${where}`);
    assert.ok(r.json && r.json.error, `error body: ${where}`);
    assert.equal(r.json.error.code, code, `code: ${where}`);
    assert.equal(typeof r.json.error.message, 'string', `message: ${where}`);
    assert.ok(r.json.error.message.length > 0, `message: ${where}`);
    checkSecurityHeaders(r, where);
}

// Row counts and content checksums of every table a request could write.
const TABLES = ['jobs', 'job_events', 'sessions', 'api_tokens', 'users'];
async function snapshot() {
    const counts = TABLES.map((t) => `(SELECT COUNT(*) FROM ${t})`).join(', ');
    const rows = await stack.sql(`SELECT ${counts}; CHECKSUM TABLE ${TABLES.join(', ')}`);
    return rows.map((r) => r.join(' ')).join(' | ');
}

// The pids of vf-api, vf-sse, the workers and nginx from <var>/run.
function programPids() {
    const out = {};
    for (const name of ['api', 'sse', 'worker-1', 'nginx']) {
        const f = join(stack.varDir, 'run', `${name}.pid`);
        out[name] = readFileSync(f, 'utf8').trim().split(/\s+/).map(Number);
    }
    return out;
}

function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

const J = (o) => JSON.stringify(o);
const hex64 = (c) => c.repeat(64);

// ---- tests ----

it('a topic that looks like SQL is text: 202 and stored verbatim', async () => {
    const before = Number(await stack.sqlValue('SELECT COUNT(*) FROM jobs'));
    for (const topic of ["'; DROP TABLE jobs; --", 'x" OR 1=1; SELECT * FROM users WHERE "a"="a']) {
        const r = await request('POST', '/api/jobs/step-script', { token: stack.token,
            body: J({ topic, options: { duration_s: 15, resolution: 720 } }) });
        assert.equal(r.status, 202, r.text);
        checkSecurityHeaders(r, 'POST step-script');
        assert.equal(r.json.job.topic, topic, 'the API answers the topic as sent');
        const id = r.json.job.id;
        const stored = await stack.sqlValue(`SELECT HEX(topic) FROM jobs WHERE id = ${id}`);
        assert.equal(Buffer.from(stored, 'hex').toString('utf8'), topic, 'stored verbatim');
        const job = await stack.waitForState(id, ['SCRIPT_READY'], SCRIPT_TIMEOUT);
        assert.equal(job.topic, topic);
        assert.equal(job.script.title.length > 0, true);
    }
    assert.equal(Number(await stack.sqlValue('SELECT COUNT(*) FROM jobs')), before + 2,
        'two jobs written, the table still there');
    assert.equal(Number(await stack.sqlValue('SELECT COUNT(*) FROM users')), 2, 'users untouched');
});

it('hostile requests: the exact 4xx JSON error each, nothing written', async () => {
    const gen = '/api/jobs/generate';
    const T = 'a perfectly fine topic';
    const opt = (o) => J({ topic: T, options: o });
    const ready = await stack.getJob(R);
    const script = ready.script;
    const withScene = (patch) => J({ script: { ...script, scenes: [{ ...script.scenes[0], ...patch },
        ...script.scenes.slice(1)] } });
    const bytes = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    const nest = (n, open, close, inner = '1') => open.repeat(n) + inner + close.repeat(n);
    const auth = `Authorization: Bearer ${stack.token}\r\n`;
    const raw = (lines, body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;
    const getRaw = (target, extra = []) => raw([`GET ${target} HTTP/1.1`, `Host: ${host}`,
        `Authorization: Bearer ${stack.token}`, 'Connection: close', ...extra]);

    // [what, method, path, opts, status, code, field]
    // opts: body, headers, as ('admin' default | 'mallory' | 'cookie' | 'none'),
    //       contentType: null (send no Content-Type), raw (bytes sent as they are).
    const rows = [
        // Bad JSON.
        ['unterminated object', 'POST', gen, { body: '{' }, 400, 'invalid_json'],
        ['unterminated string', 'POST', gen, { body: '{"topic":"abc' }, 400, 'invalid_json'],
        ['single quotes', 'POST', gen, { body: "{'topic':'abc def'}" }, 400, 'invalid_json'],
        ['unquoted key', 'POST', gen, { body: '{topic:"abc def"}' }, 400, 'invalid_json'],
        ['two objects', 'POST', gen, { body: J({ topic: T }) + J({ topic: T }) }, 400, 'invalid_json'],
        ['duplicate key', 'POST', gen, { body: '{"topic":"abc def","topic":"ghi jkl"}' }, 400, 'invalid_json'],
        ['a comment', 'POST', gen, { body: '{"topic":"abc def"} // hi' }, 400, 'invalid_json'],
        ['NaN', 'POST', gen, { body: '{"topic":"abc def","options":{"duration_s":NaN}}' }, 400, 'invalid_json'],
        ['Infinity', 'POST', gen, { body: '{"topic":"abc def","options":{"duration_s":Infinity}}' }, 400, 'invalid_json'],
        ['byte order mark', 'POST', gen, { body: '\ufeff' + J({ topic: T }) }, 400, 'invalid_json'],
        ['null body', 'POST', gen, { body: 'null' }, 400, 'invalid_json'],
        ['number body', 'POST', gen, { body: '123' }, 400, 'invalid_json'],
        ['100000 nested arrays', 'POST', gen, { body: `{"topic":${nest(100000, '[', ']', '')}}` }, 400, 'invalid_json'],
        ['100000 nested arrays in options', 'POST', gen,
            { body: `{"topic":"abc def","options":${nest(100000, '[', ']', '')}}` }, 400, 'invalid_json'],
        ['40000 nested objects', 'POST', gen,
            { body: `{"topic":"abc def","options":${nest(40000, '{"a":', '}')}}` }, 400, 'invalid_json'],
        ['3000 nested arrays in a script', 'PUT', `/api/jobs/${R}/script`,
            { body: `{"script":${nest(3000, '[', ']')}}` }, 400, 'invalid_json'],
        ['100000 nested arrays at login', 'POST', '/api/auth/login',
            { body: `{"username":${nest(100000, '[', ']', '')}}` }, 400, 'invalid_json'],
        ['XML with a JSON content type', 'POST', gen, { body: '<topic>abc def</topic>' }, 400, 'invalid_json'],

        // Huge numbers.
        ['1e400', 'POST', gen, { body: '{"topic":"abc def","options":{"duration_s":1e400}}' }, 400, 'invalid_json'],
        ['a 26-digit integer', 'POST', gen,
            { body: '{"topic":"abc def","options":{"duration_s":99999999999999999999999999}}' }, 400, 'invalid_json'],
        ['INT64_MIN seconds', 'POST', gen, { body: '{"topic":"abc def","options":{"duration_s":-9223372036854775808}}' },
            400, 'invalid_option', 'duration_s'],
        ['INT64_MAX seconds', 'POST', gen, { body: '{"topic":"abc def","options":{"duration_s":9223372036854775807}}' },
            400, 'invalid_option', 'duration_s'],
        ['1e308 seconds', 'POST', gen, { body: '{"topic":"abc def","options":{"duration_s":1e308}}' },
            400, 'invalid_option', 'duration_s'],
        ['resolution 1e3', 'POST', gen, { body: '{"topic":"abc def","options":{"resolution":1e3}}' },
            400, 'invalid_option', 'resolution'],
        ['volume 1e300', 'POST', gen, { body: opt({ music: { volume: 1e300 } }) }, 400, 'invalid_option', 'volume'],
        ['volume -1e-300', 'POST', gen, { body: '{"topic":"abc def","options":{"music":{"volume":-1e-300}}}' },
            400, 'invalid_option', 'volume'],
        ['topic 1e400', 'POST', gen, { body: '{"topic":1e400}' }, 400, 'invalid_json'],
        ['a huge number at login', 'POST', '/api/auth/login', { body: '{"username":1e999,"password":"x"}' },
            400, 'invalid_json'],

        // Invalid UTF-8.
        ['bad continuation byte', 'POST', gen, { body: bytes('{"topic":"caf', [0xc3, 0x28], ' au lait"}') }, 400, 'invalid_json'],
        ['overlong dot', 'POST', gen, { body: bytes('{"topic":"dot', [0xc0, 0xae], 'dot"}') }, 400, 'invalid_json'],
        ['UTF-8 surrogate', 'POST', gen, { body: bytes('{"topic":"sur', [0xed, 0xa0, 0x80], 'rogate"}') }, 400, 'invalid_json'],
        ['0xFF byte', 'POST', gen, { body: bytes('{"topic":"ab', [0xff], 'cd"}') }, 400, 'invalid_json'],
        ['truncated sequence', 'POST', gen, { body: bytes('{"topic":"euro ', [0xe2, 0x82], '"}') }, 400, 'invalid_json'],
        ['beyond U+10FFFF', 'POST', gen, { body: bytes('{"topic":"big ', [0xf4, 0x90, 0x80, 0x80], '"}') }, 400, 'invalid_json'],
        ['invalid UTF-8 in a key', 'POST', gen, { body: bytes('{"top', [0xfe], 'ic":"abc def"}') }, 400, 'invalid_json'],
        ['invalid UTF-8 in a user name', 'POST', '/api/auth/login',
            { body: bytes('{"username":"de', [0xc3], 'mo","password":"x"}') }, 400, 'invalid_json'],
        ['lone surrogate escape', 'POST', gen, { body: '{"topic":"lone \\ud800 one"}' }, 400, 'invalid_json'],
        ['reversed surrogates', 'POST', gen, { body: '{"topic":"pair \\udc00\\ud800"}' }, 400, 'invalid_json'],
        ['invalid UTF-8 in a script', 'PUT', `/api/jobs/${R}/script`,
            { body: bytes('{"script":{"title":"t', [0xc3, 0x28], '"}}') }, 400, 'invalid_json'],

        // NUL bytes.
        ['raw NUL in the topic', 'POST', gen, { body: bytes('{"topic":"abc', [0], 'def"}') }, 400, 'invalid_json'],
        ['\\u0000 in the topic', 'POST', gen, { body: '{"topic":"abc\\u0000def"}' }, 400, 'invalid_json'],
        ['\\u0000 in a key', 'POST', gen, { body: '{"top\\u0000ic":"abc def"}' }, 400, 'invalid_json'],
        ['raw NUL after the object', 'POST', gen, { body: bytes(J({ topic: T }), [0]) }, 400, 'invalid_json'],
        ['\\u0000 in a password', 'POST', '/api/auth/login', { body: '{"username":"demo","password":"a\\u0000b"}' },
            400, 'invalid_json'],
        ['\\u0000 in a narration', 'PUT', `/api/jobs/${R}/script`,
            { body: withScene({ narration: 'before\u0000after' }) }, 400, 'invalid_json'],
        ['\\u0000 in an option', 'POST', gen, { body: '{"topic":"abc def","options":{"voice":"en\\u0000"}}' },
            400, 'invalid_json'],
        ['NUL in the query', 'GET', '/api/jobs?state=%00', {}, 400, 'invalid_query', 'state'],
        ['NUL in the path', 'GET', `/api/jobs/${R}%00`, {}, 400, 'bad_request'],
        ['NUL in a header', 'RAW', '', { raw: bytes(`GET /api/jobs HTTP/1.1\r\nHost: ${host}\r\n${auth}X-Junk: a`, [0],
            'b\r\nConnection: close\r\n\r\n') }, 400, 'bad_request'],

        // Overlong fields.
        ['topic of 10000 characters', 'POST', gen, { body: J({ topic: 'x'.repeat(10000) }) }, 400, 'invalid_field', 'topic'],
        ['topic of 200000 bytes', 'POST', gen, { body: J({ topic: 'é'.repeat(100000) }) }, 400, 'invalid_field', 'topic'],
        ['user name of 64 characters', 'POST', '/api/auth/login', { body: J({ username: 'u'.repeat(64), password: 'x' }) },
            400, 'invalid_field', 'username'],
        ['password of 1025 characters', 'POST', '/api/auth/login', { body: J({ username: 'demo', password: 'p'.repeat(1025) }) },
            400, 'invalid_field', 'password'],
        ['voice of 10000 characters', 'POST', gen, { body: opt({ voice: 'v'.repeat(10000) }) }, 400, 'invalid_option', 'voice'],
        ['language of 1000 characters', 'POST', gen, { body: opt({ language: 'e'.repeat(1000) }) }, 400, 'invalid_option', 'language'],
        ['track of 5000 characters', 'POST', gen, { body: opt({ music: { track: 't'.repeat(5000) + '.mp3' } }) },
            400, 'invalid_option', 'track'],
        ['font of 5000 characters', 'POST', gen, { body: opt({ style: { font: 'f'.repeat(5000) } }) }, 400, 'invalid_option', 'font'],
        ['title of 10000 characters', 'PUT', `/api/jobs/${R}/script`, { body: J({ script: { ...script, title: 't'.repeat(10000) } }) },
            400, 'invalid_script'],
        ['narration of 20000 characters', 'PUT', `/api/jobs/${R}/script`, { body: withScene({ narration: 'word '.repeat(4000) }) },
            400, 'invalid_script'],
        ['a key of 10000 characters', 'POST', gen, { body: J({ topic: T, ['k'.repeat(10000)]: 1 }) }, 400, 'unknown_field', 'kkkk'],
        ['a key cut inside a character', 'POST', gen, { body: J({ topic: T, ['a' + 'é'.repeat(100)]: 1 }) }, 400, 'unknown_field'],

        // Unknown options and wrong types.
        ['options an array', 'POST', gen, { body: J({ topic: T, options: [] }) }, 400, 'invalid_field', 'options'],
        ['options a string', 'POST', gen, { body: J({ topic: T, options: 'fast' }) }, 400, 'invalid_field', 'options'],
        ['options a number', 'POST', gen, { body: J({ topic: T, options: 5 }) }, 400, 'invalid_field', 'options'],
        ['style a string', 'POST', gen, { body: opt({ style: 'bold' }) }, 400, 'invalid_option', 'style'],
        ['music an array', 'POST', gen, { body: opt({ music: [] }) }, 400, 'invalid_option', 'music'],
        ['duration true', 'POST', gen, { body: opt({ duration_s: true }) }, 400, 'invalid_option', 'duration_s'],
        ['aspect a number', 'POST', gen, { body: opt({ aspect: 916 }) }, 400, 'invalid_option', 'aspect'],
        ['resolution a string', 'POST', gen, { body: opt({ resolution: '1080' }) }, 400, 'invalid_option', 'resolution'],
        ['tts an array', 'POST', gen, { body: opt({ tts: ['espeak'] }) }, 400, 'invalid_option', 'tts'],
        ['an unconfigured writer', 'POST', gen, { body: opt({ script_provider: 'gemini' }) }, 400, 'invalid_option', 'script_provider'],
        ['a writer that does not exist', 'POST', gen, { body: opt({ script_provider: 'shell' }) }, 400, 'invalid_option', 'script_provider'],
        ['__proto__ option', 'POST', gen, { body: '{"topic":"abc def","options":{"__proto__":{"admin":true}}}' },
            400, 'unknown_field', '__proto__'],
        ['constructor option', 'POST', gen, { body: opt({ constructor: 1 }) }, 400, 'unknown_field', 'constructor'],
        ['an unknown top-level key', 'POST', gen, { body: J({ topic: T, owner_id: 1 }) }, 400, 'unknown_field', 'owner_id'],
        ['a state smuggled in', 'POST', '/api/jobs/step-script', { body: J({ topic: T, state: 'COMPLETED' }) },
            400, 'unknown_field', 'state'],
        ['topic an object', 'POST', gen, { body: J({ topic: {} }) }, 400, 'invalid_field', 'topic'],
        ['topic true', 'POST', gen, { body: J({ topic: true }) }, 400, 'invalid_field', 'topic'],
        ['user name an array', 'POST', '/api/auth/login', { body: J({ username: [], password: 'x' }) }, 400, 'invalid_field', 'username'],
        ['password a number', 'POST', '/api/auth/login', { body: J({ username: 'demo', password: 123 }) }, 400, 'invalid_field', 'password'],
        ['an extra login field', 'POST', '/api/auth/login', { body: J({ username: 'demo', password: 'x', role: 'admin' }) },
            400, 'unknown_field', 'role'],
        ['script a string', 'PUT', `/api/jobs/${R}/script`, { body: J({ script: 'text' }) }, 400, 'invalid_script'],
        ['script an array', 'PUT', `/api/jobs/${R}/script`, { body: J({ script: [] }) }, 400, 'invalid_script'],
        ['scenes a string', 'PUT', `/api/jobs/${R}/script`, { body: J({ script: { ...script, scenes: 'x' } }) }, 400, 'invalid_script'],
        ['21 scenes', 'PUT', `/api/jobs/${R}/script`, { body: J({ script: { ...script, scenes: Array(21).fill(script.scenes[0]) } }) },
            400, 'invalid_script'],
        ['narration a number', 'PUT', `/api/jobs/${R}/script`, { body: withScene({ narration: 123 }) }, 400, 'invalid_script'],

        // SQL-looking values where only numbers or names belong.
        ['id "1 OR 1=1"', 'GET', '/api/jobs/1%20OR%201=1', {}, 400, 'invalid_id'],
        ['id "1;DROP TABLE jobs"', 'GET', '/api/jobs/1;DROP%20TABLE%20jobs', {}, 400, 'invalid_id'],
        ["id \"1'--\"", 'GET', "/api/jobs/1'--", {}, 400, 'invalid_id'],
        ["cancel id \"1';--\"", 'POST', '/api/jobs/1%27%3B--/cancel', {}, 400, 'invalid_id'],
        ['before "1 OR 1=1"', 'GET', '/api/jobs?before=1%20OR%201=1', {}, 400, 'invalid_query', 'before'],
        ["state \"' OR '1'='1\"", 'GET', "/api/jobs?state=COMPLETED'%20OR%20'1'='1", {}, 400, 'invalid_query', 'state'],
        ['limit "1;DELETE FROM jobs"', 'GET', '/api/jobs?limit=1;DELETE%20FROM%20jobs', {}, 400, 'invalid_query', 'limit'],
        ["user name \"' OR '1'='1\"", 'POST', '/api/auth/login', { body: J({ username: "' OR '1'='1", password: "' OR '1'='1" }) },
            401, 'invalid_credentials'],
        ["user name \"demo'--\"", 'POST', '/api/auth/login', { body: J({ username: "demo'--", password: 'x' }) },
            401, 'invalid_credentials'],
        ['a token "\' OR 1=1 --"', 'GET', '/api/jobs', { as: 'none', headers: { authorization: "Bearer ' OR 1=1 --" } },
            401, 'unauthorized'],
        ['a cookie "\' OR 1=1 --"', 'GET', '/api/jobs', { as: 'none', headers: { cookie: "vf_session=' OR 1=1 --" } },
            401, 'unauthorized'],

        // Path traversal in media names and music tracks.
        ['media ..%2f..%2fetc%2fpasswd', 'GET', `/api/jobs/${R}/media/..%2f..%2fetc%2fpasswd`, {}, 404, 'not_found'],
        // nginx decodes and resolves the dots first: this is /api/jobs/vf.conf.
        ['media %2e%2e%2fvf.conf', 'GET', `/api/jobs/${R}/media/%2e%2e%2f%2e%2e%2fvf.conf`, {}, 400, 'invalid_id'],
        ['media ..\\vf.conf', 'GET', `/api/jobs/${R}/media/..%5c..%5cvf.conf`, {}, 404, 'not_found'],
        ['media .script.json', 'GET', `/api/jobs/${R}/media/.script.json`, {}, 404, 'not_found'],
        ['media ../../../etc/passwd', 'RAW', '', { raw: getRaw(`/api/jobs/${R}/media/../../../etc/passwd`) }, 404, 'not_found'],
        ['media above the root', 'RAW', '', { raw: getRaw(`/api/jobs/${R}/media/../../../../../../etc/passwd`) }, 400, 'bad_request'],
        ['the store directly', 'GET', `/media/jobs/${R}/script.json`, {}, 404, 'not_found'],
        ['music.track ../x', 'POST', gen, { body: opt({ music: { track: '../x' } }) }, 400, 'invalid_option', 'track'],
        ['music.track /etc/passwd', 'POST', gen, { body: opt({ music: { track: '/etc/passwd' } }) }, 400, 'invalid_option', 'track'],
        ['music.track ..\\x.mp3', 'POST', gen, { body: opt({ music: { track: '..\\x.mp3' } }) }, 400, 'invalid_option', 'track'],
        ['style.font ../../etc/passwd', 'POST', gen, { body: opt({ style: { font: '../../etc/passwd' } }) },
            400, 'invalid_option', 'font'],

        // Oversize bodies.
        ['over max_body_bytes', 'POST', gen, { body: J({ topic: 'a'.repeat(MAX_BODY) }) }, 413, 'body_too_large'],
        ['over nginx client_max_body_size', 'POST', gen, { body: J({ topic: 'a'.repeat(NGINX_MAX_BODY + 10) }) },
            413, 'body_too_large'],
        ['a 3 MB login', 'POST', '/api/auth/login', { body: J({ username: 'demo', password: 'p'.repeat(3 << 20) }) },
            413, 'body_too_large'],
        ['a 300 kB script', 'PUT', `/api/jobs/${R}/script`, { body: J({ script: { title: 't'.repeat(300000) } }) },
            413, 'body_too_large'],
        ['a lying Content-Length', 'RAW', '', { raw: raw([`POST ${gen} HTTP/1.1`, `Host: ${host}`, auth.trim(),
            'Content-Type: application/json', 'Content-Length: 99999999999', 'Connection: close'], '{}') },
        413, 'body_too_large'],
        ['a chunked body over the limit', 'RAW', '', { raw: raw([`POST ${gen} HTTP/1.1`, `Host: ${host}`, auth.trim(),
            'Content-Type: application/json', 'Transfer-Encoding: chunked', 'Connection: close'],
        `${(3 << 20).toString(16)}\r\n${'a'.repeat(3 << 20)}\r\n0\r\n\r\n`) }, 413, 'body_too_large'],

        // Content types.
        ['text/plain', 'POST', gen, { body: J({ topic: T }), headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
        ['a form', 'POST', gen, { body: 'topic=abc+def', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
            415, 'unsupported_media_type'],
        ['multipart', 'POST', gen, { body: J({ topic: T }), headers: { 'content-type': 'multipart/form-data; boundary=x' } },
            415, 'unsupported_media_type'],
        ['application/jsonp', 'POST', gen, { body: J({ topic: T }), headers: { 'content-type': 'application/jsonp' } },
            415, 'unsupported_media_type'],
        ['two content types', 'POST', gen, { body: J({ topic: T }), headers: { 'content-type': 'application/json,text/plain' } },
            415, 'unsupported_media_type'],
        ['no content type', 'POST', gen, { body: J({ topic: T }), contentType: null }, 415, 'unsupported_media_type'],
        ['login as text/plain', 'POST', '/api/auth/login', { body: J({ username: 'demo', password: 'x' }),
            headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
        ['a script as XML', 'PUT', `/api/jobs/${R}/script`, { body: J({ script }), headers: { 'content-type': 'text/xml' } },
            415, 'unsupported_media_type'],

        // Bogus, negative and overflowing ids.
        ['id -5', 'GET', '/api/jobs/-5', {}, 400, 'invalid_id'],
        ['id 2^63', 'GET', '/api/jobs/9223372036854775808', {}, 400, 'invalid_id'],
        ['id 2^64', 'GET', '/api/jobs/18446744073709551616', {}, 400, 'invalid_id'],
        ['id 2^53+1', 'GET', '/api/jobs/9007199254740993', {}, 400, 'invalid_id'],
        ['id 1e3', 'GET', '/api/jobs/1e3', {}, 400, 'invalid_id'],
        ['id 0x1', 'GET', '/api/jobs/0x1', {}, 400, 'invalid_id'],
        ['id 00001', 'GET', '/api/jobs/00001', {}, 400, 'invalid_id'],
        ['id " 1"', 'GET', '/api/jobs/%201', {}, 400, 'invalid_id'],
        ['id in fullwidth digits', 'GET', '/api/jobs/%EF%BC%91', {}, 400, 'invalid_id'],
        ['DELETE id -1', 'DELETE', '/api/jobs/-1', {}, 400, 'invalid_id'],
        ['PUT script of id abc', 'PUT', '/api/jobs/abc/script', { body: J({ script }) }, 400, 'invalid_id'],
        ['media of id -1', 'GET', '/api/jobs/-1/media/video.mp4', {}, 400, 'invalid_id'],
        ['id 2^53, unknown', 'GET', '/api/jobs/9007199254740992', {}, 404, 'not_found'],
        ["another user's job", 'GET', `/api/jobs/${R}`, { as: 'mallory' }, 404, 'not_found'],
        ["cancel another user's job", 'POST', `/api/jobs/${R}/cancel`, { as: 'mallory' }, 404, 'not_found'],
        ["edit another user's script", 'PUT', `/api/jobs/${R}/script`, { as: 'mallory', body: J({ script }) }, 404, 'not_found'],

        // Forged cookies and tokens.
        ['Bearer and nothing', 'GET', '/api/jobs', { as: 'none', headers: { authorization: 'Bearer ' } }, 401, 'unauthorized'],
        ['a 63-character token', 'GET', '/api/jobs', { as: 'none', headers: { authorization: `Bearer ${stack.token.slice(1)}` } },
            401, 'unauthorized'],
        ['a 65-character token', 'GET', '/api/jobs', { as: 'none', headers: { authorization: `Bearer ${stack.token}0` } },
            401, 'unauthorized'],
        ['a non-hex token', 'GET', '/api/jobs', { as: 'none', headers: { authorization: `Bearer ${hex64('g')}` } }, 401, 'unauthorized'],
        ['the token in upper case', 'GET', '/api/jobs', { as: 'none',
            headers: { authorization: `Bearer ${stack.token.toUpperCase()}` } }, 401, 'unauthorized'],
        ['a valid-looking unknown token', 'GET', '/api/jobs', { as: 'none', headers: { authorization: `Bearer ${hex64('a')}` } },
            401, 'unauthorized'],
        ['the Token scheme', 'GET', '/api/jobs', { as: 'none', headers: { authorization: `Token ${stack.token}` } }, 401, 'unauthorized'],
        ['Basic credentials', 'GET', '/api/jobs', { as: 'none',
            headers: { authorization: `Basic ${Buffer.from(`${stack.user}:${stack.password}`).toString('base64')}` } },
        401, 'unauthorized'],
        ['a token of 6000 characters', 'GET', '/api/jobs', { as: 'none', headers: { authorization: `Bearer ${'a'.repeat(6000)}` } },
            401, 'unauthorized'],
        ['a 63-character cookie', 'GET', '/api/auth/me', { as: 'none', headers: { cookie: `vf_session=${hex64('b').slice(1)}` } },
            401, 'unauthorized'],
        ['a non-hex cookie', 'GET', '/api/auth/me', { as: 'none', headers: { cookie: `vf_session=${hex64('z')}` } }, 401, 'unauthorized'],
        ['an unknown cookie', 'GET', '/api/auth/me', { as: 'none', headers: { cookie: `vf_session=${hex64('c')}` } }, 401, 'unauthorized'],
        ['a quoted cookie', 'GET', '/api/auth/me', { as: 'none', headers: { cookie: `vf_session="${mallory.cookie.slice(11)}"` } },
            401, 'unauthorized'],
        ['the API token as a cookie', 'GET', '/api/auth/me', { as: 'none', headers: { cookie: `vf_session=${stack.token}` } },
            401, 'unauthorized'],
        ['the session as a token', 'GET', '/api/auth/me', { as: 'none', headers: { authorization: `Bearer ${mallory.cookie.slice(11)}` } },
            401, 'unauthorized'],
        ['a forged token beside a good cookie', 'GET', '/api/auth/me', { as: 'none',
            headers: { authorization: `Bearer ${hex64('d')}`, cookie: mallory.cookie } }, 401, 'unauthorized'],
        ['a cookie named like ours', 'GET', '/api/auth/me', { as: 'none',
            headers: { cookie: `xvf_session=${mallory.cookie.slice(11)}` } }, 401, 'unauthorized'],
        ['a cookie too large for nginx', 'GET', '/api/jobs', { as: 'none', headers: { cookie: `vf_session=${'a'.repeat(9000)}` } },
            400, 'headers_too_large'],
        ['no credentials, a write', 'POST', gen, { as: 'none', body: J({ topic: T }) }, 401, 'unauthorized'],

        // Cookie-authenticated writes without X-Requested-With.
        ['cookie generate', 'POST', gen, { as: 'cookie', body: J({ topic: T }) }, 403, 'csrf_required'],
        ['cookie step-script', 'POST', '/api/jobs/step-script', { as: 'cookie', body: J({ topic: T }) }, 403, 'csrf_required'],
        ['cookie script edit', 'PUT', `/api/jobs/${R}/script`, { as: 'cookie', body: J({ script }) }, 403, 'csrf_required'],
        ['cookie retry', 'POST', `/api/jobs/${R}/retry`, { as: 'cookie' }, 403, 'csrf_required'],
        ['cookie cancel', 'POST', `/api/jobs/${R}/cancel`, { as: 'cookie' }, 403, 'csrf_required'],
        ['cookie step-video', 'POST', `/api/jobs/${R}/step-video`, { as: 'cookie' }, 403, 'csrf_required'],
        ['cookie step-finalize', 'POST', `/api/jobs/${R}/step-finalize`, { as: 'cookie' }, 403, 'csrf_required'],
        ['cookie delete', 'DELETE', `/api/jobs/${R}`, { as: 'cookie' }, 403, 'csrf_required'],
        ['cookie logout', 'POST', '/api/auth/logout', { as: 'cookie' }, 403, 'csrf_required'],
        ['X-Requested-With of another value', 'POST', gen, { as: 'cookie', body: J({ topic: T }),
            headers: { 'x-requested-with': 'vf-dashboard2' } }, 403, 'csrf_required'],
        ['X-Requested-With in upper case', 'POST', gen, { as: 'cookie', body: J({ topic: T }),
            headers: { 'x-requested-with': 'VF-DASHBOARD' } }, 403, 'csrf_required'],

        // Methods.
        ['TRACE on the API', 'RAW', '', { raw: raw(['TRACE /api/jobs HTTP/1.1', `Host: ${host}`, 'Connection: close']) },
            405, 'method_not_allowed'],
        ['TRACE on the site', 'RAW', '', { raw: raw(['TRACE / HTTP/1.1', `Host: ${host}`, 'Connection: close']) },
            405, 'method_not_allowed'],
        ['OPTIONS', 'OPTIONS', '/api/jobs', {}, 405, 'method_not_allowed'],
        ['PATCH', 'PATCH', `/api/jobs/${R}`, { body: J({ state: 'COMPLETED' }) }, 405, 'method_not_allowed'],
        ['PUT on generate', 'PUT', gen, { body: J({ topic: T }) }, 405, 'method_not_allowed'],
        ['GET on logout', 'GET', '/api/auth/logout', {}, 405, 'method_not_allowed'],
        ['POST on a media file', 'POST', `/api/jobs/${R}/media/script.json`, { body: '{}' }, 405, 'method_not_allowed'],
        ['POST on a media name of bad bytes', 'POST', `/api/jobs/${R}/media/%FF%FE`, { body: '{}' }, 405, 'method_not_allowed'],
        ['a lower-case method', 'RAW', '', { raw: raw(['get /api/jobs HTTP/1.1', `Host: ${host}`, 'Connection: close']) },
            400, 'bad_request'],
        ['POST on a static page', 'POST', '/login', { body: '{}' }, 405, 'method_not_allowed'],

        // Header injection and malformed HTTP.
        ['CR inside a header value', 'RAW', '', { raw: `GET /api/jobs HTTP/1.1\r\nHost: ${host}\r\n${auth}X-Junk: a\rSet-Cookie: x=1\r\nConnection: close\r\n\r\n` },
            400, 'bad_request'],
        ['a folded header line', 'RAW', '', { raw: `GET /api/jobs HTTP/1.1\r\nHost: ${host}\r\nX-Junk: a\r\n Authorization: Bearer ${stack.token}\r\nConnection: close\r\n\r\n` },
            400, 'bad_request'],
        ['two Content-Length headers', 'RAW', '', { raw: raw([`POST ${gen} HTTP/1.1`, `Host: ${host}`, auth.trim(),
            'Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 40', 'Connection: close'], '{}') },
        400, 'bad_request'],
        ['Content-Length and chunked', 'RAW', '', { raw: raw([`POST ${gen} HTTP/1.1`, `Host: ${host}`, auth.trim(),
            'Content-Type: application/json', 'Content-Length: 5', 'Transfer-Encoding: chunked', 'Connection: close'],
        '2\r\n{}\r\n0\r\n\r\n') }, 400, 'bad_request'],
        ['a negative Content-Length', 'RAW', '', { raw: raw([`POST ${gen} HTTP/1.1`, `Host: ${host}`, auth.trim(),
            'Content-Type: application/json', 'Content-Length: -1', 'Connection: close'], '{}') }, 400, 'bad_request'],
        ['no Host', 'RAW', '', { raw: raw(['GET /api/jobs HTTP/1.1', auth.trim(), 'Connection: close']) }, 400, 'bad_request'],
        ['two Hosts', 'RAW', '', { raw: raw(['GET /api/jobs HTTP/1.1', `Host: ${host}`, 'Host: evil.example', auth.trim(),
            'Connection: close']) }, 400, 'bad_request'],
        ['CRLF in the download parameter', 'GET', `/api/jobs/${R}/media/script.json?download=1%0d%0aSet-Cookie:%20pwned=1`, {},
            400, 'invalid_query', 'download'],
        ['CRLF in the path', 'GET', '/api/jobs%0d%0aSet-Cookie:%20pwned=1', {}, 404, 'not_found'],
        ['CRLF in X-Request-ID', 'GET', '/api/jobs', { as: 'none', headers: { 'x-request-id': 'ab%0d%0aSet-Cookie:%20pwned=1' } },
            401, 'unauthorized'],

        // Long URLs and query strings.
        ['a path of 9000 characters', 'GET', `/api/jobs/${'1'.repeat(9000)}`, {}, 414, 'uri_too_long'],
        ['a query of 20000 characters', 'GET', `/api/jobs?state=${'A'.repeat(20000)}`, {}, 414, 'uri_too_long'],
        ['a header of 9000 characters', 'GET', '/api/jobs', { headers: { 'x-junk': 'j'.repeat(9000) } }, 400, 'headers_too_large'],
        ['a long unknown parameter', 'GET', `/api/jobs?${'p'.repeat(6000)}=1`, {}, 400, 'invalid_query'],
        ['limit twice', 'GET', '/api/jobs?limit=1&limit=2', {}, 400, 'invalid_query', 'limit'],
        ['state twice', 'GET', '/api/jobs?state=FAILED&state=COMPLETED', {}, 400, 'invalid_query', 'state'],
        ['an unknown parameter', 'GET', '/api/jobs?owner=1', {}, 400, 'invalid_query', 'owner'],
        ['a parameter with no name', 'GET', '/api/jobs?=5', {}, 400, 'invalid_query'],
        ['state[]', 'GET', '/api/jobs?state[]=FAILED', {}, 400, 'invalid_query'],
        ['limit %zz', 'GET', '/api/jobs?limit=%zz', {}, 400, 'invalid_query', 'limit'],
        ['limit %4', 'GET', '/api/jobs?limit=%4', {}, 400, 'invalid_query', 'limit'],
        ['limit empty', 'GET', '/api/jobs?limit=', {}, 400, 'invalid_query', 'limit'],
        ['limit 5%00', 'GET', '/api/jobs?limit=5%00', {}, 400, 'invalid_query', 'limit'],
        ['limit 1e2', 'GET', '/api/jobs?limit=1e2', {}, 400, 'invalid_query', 'limit'],
        ['limit +5', 'GET', '/api/jobs?limit=+5', {}, 400, 'invalid_query', 'limit'],
        ['before -1', 'GET', '/api/jobs?before=-1', {}, 400, 'invalid_query', 'before'],
        ['before 2^66', 'GET', '/api/jobs?before=73786976294838206464', {}, 400, 'invalid_query', 'before'],
        ['download=yes', 'GET', `/api/jobs/${R}/media/script.json?download=yes`, {}, 400, 'invalid_query', 'download'],
    ];
    assert.ok(rows.length >= 100, `${rows.length} rows`);

    const failures = [];
    let last = await snapshot();
    for (const [what, method, path, o, status, code, field] of rows) {
        const ctx = `${what}: ${method} ${path.slice(0, 80)}`;
        try {
            let r;
            if (method === 'RAW') {
                r = await rawRequest(o.raw);
            } else {
                const as = o.as || 'admin';
                const who = as === 'admin' ? { token: stack.token }
                    : as === 'mallory' ? { token: mallory.token }
                        : as === 'cookie' ? { cookie: mallory.cookie } : {};
                r = await request(method, path, { ...who, body: o.body, headers: o.headers,
                    contentType: o.contentType });
            }
            expectError(r, status, code, ctx);
            if (field) {
                assert.equal(typeof r.json.error.field, 'string', `error.field in ${r.text.slice(0, 300)}`);
                assert.ok(r.json.error.field.includes(field), `error.field names ${field}: ${r.text.slice(0, 300)}`);
            }
            if (code === 'invalid_script') {
                assert.ok(Array.isArray(r.json.error.fields) && r.json.error.fields.length > 0,
                    `error.fields: ${r.text.slice(0, 300)}`);
            }
            assert.deepEqual(r.headers['set-cookie'], [], `no cookie set: ${ctx}`);
            assert.ok(!Object.keys(r.headers).includes('pwned'), `no injected header: ${ctx}`);
        } catch (e) {
            failures.push(`${ctx}: ${e.message.split('\n')[0]}`);
        }
        const now = await snapshot();
        if (now !== last) failures.push(`${ctx}: the database changed: ${last} → ${now}`);
        last = now;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${rows.length} rows broke the contract:\n${failures.join('\n')}`);

    const job = await stack.getJob(R);
    assert.equal(job.state, 'SCRIPT_READY', 'the target job is as it was');
    assert.deepEqual(job.script, script, 'its script is as it was');
}, 300_000);

it('security headers on pages, API answers, media and event streams', async () => {
    const cases = [
        ['GET', '/login', {}, 200],
        ['GET', '/dashboard/video-factory', {}, 200],
        ['GET', '/assets/app.css', {}, 200],
        ['GET', '/no-such-page', {}, 404],
        ['GET', '/api/health', {}, 200],
        ['GET', '/api/options', { token: stack.token }, 200],
        ['GET', `/api/jobs/${R}`, { token: stack.token }, 200],
        ['GET', `/api/jobs/${R}/media/script.json`, { token: stack.token }, 200],
        ['GET', `/api/jobs/${R}/media/script.json?download=1`, { token: stack.token }, 200],
        ['GET', '/api/jobs', {}, 401],
        ['GET', '/api/events', {}, 401],
    ];
    for (const [method, path, opts, status] of cases) {
        const r = await request(method, path, opts);
        assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
        checkSecurityHeaders(r, `${method} ${path}`);
    }
    // An open stream: the headers arrive before any event.
    await new Promise((resolve, reject) => {
        const req = http.get({ host, port, path: '/api/events', agent: false, localAddress: freshAddress(),
            headers: { authorization: `Bearer ${stack.token}`, accept: 'text/event-stream' } }, (res) => {
            try {
                assert.equal(res.statusCode, 200);
                assert.match(res.headers['content-type'], /^text\/event-stream/);
                checkSecurityHeaders({ headers: res.headers }, 'GET /api/events');
                resolve();
            } catch (e) {
                reject(e);
            } finally {
                req.destroy();
            }
        });
        req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
    });
});

// Resolves true when the open stream s ends within ms, false when it is still open.
function endsWithin(s, ms) {
    return Promise.race([s.whenClosed.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);
}

it('a stream already open ends when its session logs out or expires, or its token is revoked', async () => {
    stack.addUser('oscar', 'oscar-password-1', 'user');
    const signIn = async () => {
        const r = await request('POST', '/api/auth/login',
            { body: J({ username: 'oscar', password: 'oscar-password-1' }) });
        assert.equal(r.status, 200, r.text);
        return /(vf_session=[0-9a-f]{64})/.exec(r.headers['set-cookie'].join(';'))[1];
    };
    const open = async (headers, path = '/api/events') => {
        const s = await openStream(`${stack.url}${path}`, { headers });
        assert.equal(s.status, 200, s.body);
        return s;
    };
    const hash = (cookie) => `SHA2('${cookie.slice(11)}', 256)`;
    const keeper = await signIn();              // a second session that stays signed in
    const kept = await open({ cookie: keeper });
    const ownJob = await request('POST', '/api/jobs/step-script', { cookie: keeper, csrf: true,
        body: J({ topic: 'streams that outlive their welcome', options: { duration_s: 15 } }) });
    assert.equal(ownJob.status, 202, ownJob.text);
    const jobPath = `/api/jobs/${ownJob.json.job.id}/events`;
    // The poller re-checks every 2 s; allow a slow machine ten times that.
    const WAIT = 20_000;

    // Logout ends every stream of that session (two tabs, both kinds of stream) and no other.
    const cookie = await signIn();
    const tabs = [await open({ cookie }), await open({ cookie }, jobPath)];
    assert.equal((await request('POST', '/api/auth/logout', { cookie, csrf: true })).status, 204);
    for (const [i, tab] of tabs.entries()) assert.ok(await endsWithin(tab, WAIT), `tab ${i} ended after logout`);
    assert.equal(kept.closed, false, 'the other session\'s stream is still open');

    // Expiry: a session that runs out ends its open stream too.
    const cookie2 = await signIn();
    const expiring = await open({ cookie: cookie2 });
    assert.equal(await endsWithin(expiring, 3000), false, 'a live session\'s stream stays open');
    await stack.sql(`UPDATE sessions SET expires_at = UTC_TIMESTAMP(3) WHERE id_hash = ${hash(cookie2)}`);
    assert.ok(await endsWithin(expiring, WAIT), 'the stream ended when its session expired');

    // Revocation: vfctl token revoke ends the token's streams, not the others'.
    const token = stack.createToken('oscar', 'to revoke live');
    const other = stack.createToken('oscar', 'stays');
    const byToken = await open({ authorization: `Bearer ${token}` }, jobPath);
    const byOther = await open({ authorization: `Bearer ${other}` });
    assert.match(stack.vfctl(['token', 'revoke', '-'], `${token}\n`), /revoked/);
    assert.ok(await endsWithin(byToken, WAIT), 'the stream ended when its token was revoked');
    assert.equal(byOther.closed, false, 'the other token\'s stream is still open');
    assert.equal(kept.closed, false, 'the other session\'s stream is still open');
    // Its reconnect is refused, which is what sends a browser to the login page.
    assert.equal(await streamStatus({ authorization: `Bearer ${token}` }), 401);

    // More credentials than one check query asks about (16): each is still checked.
    const many = [];
    for (let i = 0; i < 20; i++) {
        const t = stack.createToken('oscar', `many ${i}`);
        many.push({ token: t, stream: await open({ authorization: `Bearer ${t}` }) });
    }
    const doomed = [3, 11, 19];
    for (const i of doomed) stack.vfctl(['token', 'revoke', '-'], `${many[i].token}\n`);
    for (const i of doomed) assert.ok(await endsWithin(many[i].stream, WAIT), `token ${i}'s stream ended`);
    assert.equal(await endsWithin(many[0].stream, 2500), false, 'the others stay open');
    for (const [i, m] of many.entries()) {
        if (!doomed.includes(i)) assert.equal(m.stream.closed, false, `token ${i}'s stream is still open`);
    }
    await Promise.all([kept.close(), byOther.close(), ...many.map((m) => m.stream.close())]);
    await request('POST', `/api/jobs/${ownJob.json.job.id}/cancel`, { cookie: keeper, csrf: true });
});

// A stream that opens (200) or is refused (its status).
async function streamStatus(headers) {
    const r = await readEvents(`${stack.url}/api/events`, { headers, timeoutMs: 1500 });
    return r.status;
}

it('logout, session expiry and token revocation really end access, in vf-api and vf-sse', async () => {
    // Logout: the old cookie is dead everywhere.
    const login = await request('POST', '/api/auth/login',
        { body: J({ username: 'mallory', password: 'mallory-password-1' }) });
    assert.equal(login.status, 200, login.text);
    const cookie = /(vf_session=[0-9a-f]{64})/.exec(login.headers['set-cookie'].join(';'))[1];
    assert.equal((await request('GET', '/api/auth/me', { cookie })).status, 200);
    assert.equal(await streamStatus({ cookie }), 200, 'a stream with the live session');
    const out = await request('POST', '/api/auth/logout', { cookie, csrf: true });
    assert.equal(out.status, 204, out.text);
    assert.match(out.headers['set-cookie'].join(';'), /vf_session=;.*Max-Age=0/, 'the cookie is cleared');
    expectError(await request('GET', '/api/auth/me', { cookie }), 401, 'unauthorized', 'me after logout');
    expectError(await request('POST', '/api/jobs/generate', { cookie, csrf: true, body: J({ topic: 'after logout' }) }),
        401, 'unauthorized', 'generate after logout');
    assert.equal(await streamStatus({ cookie }), 401, 'a stream after logout');
    const hash = (s) => `SHA2('${s.slice(11)}', 256)`;
    assert.equal(await stack.sqlValue(`SELECT COUNT(*) FROM sessions WHERE id_hash = ${hash(cookie)}`), '0',
        'the session row is gone');

    // Expiry: a session past expires_at is refused though its row is still there.
    const login2 = await request('POST', '/api/auth/login',
        { body: J({ username: 'mallory', password: 'mallory-password-1' }) });
    const cookie2 = /(vf_session=[0-9a-f]{64})/.exec(login2.headers['set-cookie'].join(';'))[1];
    assert.match(login2.headers['set-cookie'].join(';'), /Max-Age=604800/, 'the cookie lives session_ttl_s');
    assert.equal((await request('GET', '/api/auth/me', { cookie: cookie2 })).status, 200);
    await stack.sql(`UPDATE sessions SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id_hash = ${hash(cookie2)}`);
    expectError(await request('GET', '/api/auth/me', { cookie: cookie2 }), 401, 'unauthorized', 'an expired session');
    expectError(await request('DELETE', `/api/jobs/${R}`, { cookie: cookie2, csrf: true }), 401, 'unauthorized',
        'a write with an expired session');
    assert.equal(await streamStatus({ cookie: cookie2 }), 401, 'a stream with an expired session');

    // Revocation: vfctl token revoke, by value and by user.
    const token = stack.createToken('mallory', 'to revoke');
    const other = stack.createToken('mallory', 'to revoke by user');
    assert.equal((await request('GET', '/api/auth/me', { token })).status, 200);
    assert.equal(await streamStatus({ authorization: `Bearer ${token}` }), 200, 'a stream with the live token');
    assert.match(stack.vfctl(['token', 'revoke', '-'], `${token}\n`), /revoked/);
    expectError(await request('GET', '/api/auth/me', { token }), 401, 'unauthorized', 'a revoked token');
    expectError(await request('POST', '/api/jobs/generate', { token, body: J({ topic: 'after revoking' }) }),
        401, 'unauthorized', 'a write with a revoked token');
    assert.equal(await streamStatus({ authorization: `Bearer ${token}` }), 401, 'a stream with a revoked token');
    assert.throws(() => stack.vfctl(['token', 'revoke', token]), /no live token/, 'revoking twice says so');
    assert.throws(() => stack.vfctl(['token', 'revoke', 'not-a-token']), /hex/, 'a malformed token is refused');
    assert.equal((await request('GET', '/api/auth/me', { token: other })).status, 200, 'the other token still works');
    assert.match(stack.vfctl(['token', 'revoke', '--user', 'mallory']), /^2 token\(s\) of mallory revoked/);
    expectError(await request('GET', '/api/auth/me', { token: other }), 401, 'unauthorized', 'a token revoked by user');
    expectError(await request('GET', '/api/auth/me', { token: mallory.token }), 401, 'unauthorized',
        "mallory's first token, revoked by user");
    assert.equal((await request('GET', '/api/auth/me', { token: stack.token })).status, 200, "the admin's token is untouched");
});

it('rate limits: login and job creation answer 429 rate_limited as JSON, per address', async () => {
    // Login: a burst of 10, then one every 6 s. Wrong passwords first, then the right one.
    const sessionsBefore = await stack.sqlValue('SELECT COUNT(*) FROM sessions');
    const answers = [];
    for (let k = 0; k < 14; k++) {
        answers.push(await request('POST', '/api/auth/login', { from: RATE_ADDRESSES.login,
            body: J({ username: stack.user, password: `guess number ${k}` }) }));
    }
    const statuses = answers.map((r) => r.status);
    assert.ok(statuses.slice(0, 10).every((s) => s === 401), `the first 10 guesses are heard: ${statuses}`);
    assert.ok(statuses.slice(11).every((s) => s === 429), `then they are refused: ${statuses}`);
    for (const r of answers.filter((x) => x.status === 429)) expectError(r, 429, 'rate_limited', 'login flood');
    const right = await request('POST', '/api/auth/login', { from: RATE_ADDRESSES.login,
        body: J({ username: stack.user, password: stack.password }) });
    expectError(right, 429, 'rate_limited', 'the right password from a limited address');
    assert.deepEqual(right.headers['set-cookie'], [], 'no session for a limited address');
    assert.equal(await stack.sqlValue('SELECT COUNT(*) FROM sessions'), sessionsBefore, 'no session written');
    const elsewhere = await request('POST', '/api/auth/login', { from: RATE_ADDRESSES.login2,
        body: J({ username: stack.user, password: 'wrong' }) });
    expectError(elsewhere, 401, 'invalid_credentials', 'another address is not limited');

    // Job creation: a burst of 100, then 20 a second. Bodies the API refuses,
    // so whatever gets through writes nothing either.
    const jobsBefore = await snapshot();
    const flood = await Promise.all(Array.from({ length: 160 }, (_, k) =>
        request('POST', k % 2 ? '/api/jobs/generate' : '/api/jobs/step-script',
            { from: RATE_ADDRESSES.jobs, token: stack.token, body: J({ topic: 'ab' }) })));
    const counts = {};
    for (const r of flood) counts[r.status] = (counts[r.status] || 0) + 1;
    assert.deepEqual(Object.keys(counts).sort(), ['400', '429'], `only 400 and 429: ${J(counts)}`);
    assert.ok(counts[400] >= 100, `the burst of 100 goes through: ${J(counts)}`);
    assert.ok(counts[429] >= 20, `the rest is refused: ${J(counts)}`);
    for (const r of flood) {
        if (r.status === 429) expectError(r, 429, 'rate_limited', 'job flood');
        else expectError(r, 400, 'invalid_field', 'job flood');
    }
    assert.equal(await snapshot(), jobsBefore, 'the flood wrote nothing');
    const other = await request('POST', '/api/jobs/generate', { from: RATE_ADDRESSES.jobs2, token: stack.token,
        body: J({ topic: 'ab' }) });
    expectError(other, 400, 'invalid_field', 'another address is not limited');
    // Reading is never limited.
    const reads = await Promise.all(Array.from({ length: 50 }, () =>
        request('GET', `/api/jobs/${R}`, { from: RATE_ADDRESSES.jobs, token: stack.token })));
    assert.ok(reads.every((r) => r.status === 200), 'reads from the limited address go through');
});

it('the per-user cap on unfinished jobs: 429 too_many_jobs with a message', async () => {
    stack.addUser('trudy', 'trudy-password-1', 'user');
    const token = stack.createToken('trudy', 'cap');
    // No worker picks these up fast enough to matter: the cap counts IDLE too.
    const ids = [];
    for (let k = 0; k < 5; k++) {
        const r = await request('POST', '/api/jobs/step-script', { token,
            body: J({ topic: `capped topic ${k}`, options: { duration_s: 15, resolution: 720 } }) });
        assert.equal(r.status, 202, r.text);
        ids.push(r.json.job.id);
    }
    const before = await snapshot();
    const r = await request('POST', '/api/jobs/generate', { token, body: J({ topic: 'one too many' }) });
    expectError(r, 429, 'too_many_jobs', 'the sixth unfinished job');
    assert.match(r.json.error.message, /unfinished/);
    assert.equal(await snapshot(), before, 'nothing written');
    for (const id of ids) {
        await stack.waitForState(id, ['SCRIPT_READY'], SCRIPT_TIMEOUT, token);
        assert.equal((await request('POST', `/api/jobs/${id}/cancel`, { token })).status, 202);
    }
});

it('nothing crashed: the same programs run, nginx saw no upstream die', async () => {
    const now = programPids();
    assert.deepEqual(now, pidsBefore, 'the same pids as at the start');
    for (const [name, pids] of Object.entries(now)) {
        for (const pid of pids) assert.ok(alive(pid), `${name} (pid ${pid}) is alive`);
    }
    const log = join(stack.varDir, 'log', 'nginx-error.log');
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    for (const bad of ['upstream prematurely closed', 'exited on signal', 'recv() failed', '[alert]', '[emerg]']) {
        assert.ok(!text.includes(bad), `nginx-error.log has "${bad}":\n${text.split('\n').filter((l) => l.includes(bad)).slice(0, 5).join('\n')}`);
    }
    for (const f of ['vf-api.log', 'vf-sse.log']) {
        const p = join(stack.varDir, 'log', f);
        const t = existsSync(p) ? readFileSync(p, 'utf8') : '';
        assert.ok(!/-> 5\d\d/.test(t), `${f} logged no 5xx answer:\n${t.split('\n').filter((l) => /-> 5\d\d/.test(l)).slice(0, 5).join('\n')}`);
    }
});
