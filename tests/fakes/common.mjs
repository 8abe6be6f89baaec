// What the fake model servers share: a tiny HTTP server with a control API,
// a programmable queue of answer modes, the log of requests seen, and a
// script writer that builds a valid script from the request's topic.
//
// Control endpoints (JSON):
//   POST /__control {"mode": M, "count": N}   answer the next N requests with M
//                   {"mode": M}               answer every request with M from now on
//                   {"key": K}                the API key the fake accepts from now on
//                   {"retry_delay": "1s", "slow_ms": 5000, "json_schema": false}
//   POST /__reset                             forget requests, queue and settings
//   GET  /__requests                          {"count": N, "requests": [...]}
// A request's entry: {at, method, path, headers, body, mode, status}.

import { createServer } from 'node:http';

export function readBody(req, limit = 8 << 20) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on('data', (c) => {
            size += c.length;
            if (size > limit) {
                reject(new Error('body too large'));
                req.destroy();
                return;
            }
            chunks.push(c);
        });
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

export function sendJson(res, status, obj, headers = {}) {
    if (res.destroyed || res.writableEnded) return;
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8',
        'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
}

const SENTENCES = [
    'Scientists who study {t} keep finding new surprises in the details.',
    'Picture it for a moment, and the small parts start to make sense.',
    'Every piece fits into a bigger pattern that is worth noticing.',
    'The closer you look, the stranger and richer the whole story gets.',
    'People have wondered about this for a very long time.',
    'A simple question can open a surprisingly deep door.',
    'Small changes add up, and soon the picture looks completely different.',
    'That is why experts still argue about the finer points today.',
];

function countWords(text) {
    return (text.match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) || []).length;
}

// Topic, word target and palettes of a request, from its text.
export function requestHints(allText, schema) {
    const topicMatch = /Topic:\s*([^\n]+)/.exec(allText);
    const topic = (topicMatch ? topicMatch[1] : 'this topic').trim();
    const wordsMatch = /about (\d+) words/.exec(allText);
    const target = wordsMatch ? Number(wordsMatch[1]) : 60;
    let palettes = null;
    try {
        palettes = schema.properties.scenes.items.properties.visual.properties.palette.enum;
    } catch { palettes = null; }
    if (!Array.isArray(palettes) || !palettes.length) palettes = ['sunset'];
    return { topic, target, palettes };
}

// A valid script: a hook, body scenes filled toward the target word count,
// and a call to action. Deterministic for one request.
export function buildScript({ topic, target, palettes }) {
    const t = topic.split(/\s+/).slice(0, 6).join(' ').replace(/[.?!]+$/, '');
    const hook = `Did you know that ${t} hides a secret most people miss?`;
    const cta = `Follow for more about ${t}, and share this with a curious friend.`;
    let words = countWords(hook) + countWords(cta);
    const body = [];
    let i = 0;
    while (words < target && i < 40) {
        const s = SENTENCES[i % SENTENCES.length].replace('{t}', t);
        body.push(s);
        words += countWords(s);
        i++;
    }
    if (!body.length) body.push(SENTENCES[1]);
    // Two or three sentences a scene keeps each narration well under 400 characters.
    const bodyScenes = [];
    for (let k = 0; k < body.length; k += 2) bodyScenes.push(body.slice(k, k + 2).join(' '));
    const narrations = [hook, ...bodyScenes, cta];
    const tag = '#' + (t.split(/\s+/)[0] || 'facts').replace(/[^\p{L}\p{N}]/gu, '').slice(0, 30);
    return {
        title: `The secret of ${t}`.slice(0, 120),
        scenes: narrations.map((narration, k) => ({
            narration,
            visual: { keywords: [t.split(/\s+/)[0] || 'nature'], palette: palettes[k % palettes.length] },
        })),
        hashtags: [tag.length > 1 ? tag : '#facts', '#shorts', '#learn'],
        description: `A short video about ${t}.`,
    };
}

// A short tone as base64 of raw PCM: signed 16-bit little-endian, mono, 24 kHz.
export function tonePcmBase64(seconds, rate = 24000) {
    const n = Math.max(1, Math.round(seconds * rate));
    const buf = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) {
        const fade = Math.min(1, i / 480, (n - i) / 480);
        buf.writeInt16LE(Math.round(Math.sin(2 * Math.PI * 220 * i / rate) * 8000 * fade), i * 2);
    }
    return buf.toString('base64');
}

export function textWords(text) {
    return countWords(text);
}

// Starts a fake: handler(ctx, req, res, bodyText, entry) answers model
// requests; ctx holds the queue, settings and request log.
export async function startFake({ name, defaults, handler, port = 0 }) {
    const ctx = {
        name,
        settings: { ...defaults },
        queue: [],
        mode: 'valid',
        requests: [],
        nextMode() {
            return this.queue.length ? this.queue.shift() : this.mode;
        },
    };
    const sockets = new Set();
    const server = createServer(async (req, res) => {
        let text;
        try {
            text = await readBody(req);
        } catch {
            sendJson(res, 413, { error: 'body too large' });
            return;
        }
        const path = req.url.split('?')[0];
        if (path === '/__requests' && req.method === 'GET') {
            sendJson(res, 200, { count: ctx.requests.length, requests: ctx.requests });
            return;
        }
        if (path === '/__reset' && req.method === 'POST') {
            ctx.requests = [];
            ctx.queue = [];
            ctx.mode = 'valid';
            ctx.settings = { ...defaults };
            sendJson(res, 200, { ok: true });
            return;
        }
        if (path === '/__control' && req.method === 'POST') {
            let c;
            try { c = JSON.parse(text || '{}'); } catch { sendJson(res, 400, { error: 'bad json' }); return; }
            control(ctx, c);
            sendJson(res, 200, { ok: true, mode: ctx.mode, queue: ctx.queue, settings: ctx.settings });
            return;
        }
        let body = null;
        try { body = text ? JSON.parse(text) : null; } catch { body = null; }
        const entry = { at: Date.now(), method: req.method, path: req.url, headers: req.headers,
            body, raw: body === null ? text : undefined, mode: null, status: null };
        ctx.requests.push(entry);
        try {
            await handler(ctx, req, res, body, entry);
        } catch (e) {
            sendJson(res, 500, { error: { code: 500, message: String(e && e.message), status: 'INTERNAL' } });
        }
    });
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    const actual = server.address().port;
    return {
        port: actual,
        url: `http://127.0.0.1:${actual}`,
        ctx,
        // Same as POST /__control.
        program(c) { control(ctx, c); },
        reset() {
            ctx.requests = []; ctx.queue = []; ctx.mode = 'valid'; ctx.settings = { ...defaults };
        },
        requests() { return ctx.requests; },
        close() {
            for (const s of sockets) s.destroy();
            return new Promise((resolve) => server.close(() => resolve()));
        },
    };
}

function control(ctx, c) {
    if (c.mode !== undefined) {
        if (c.count && c.count > 0) {
            for (let i = 0; i < c.count; i++) ctx.queue.push(c.mode);
        } else {
            ctx.queue = [];
            ctx.mode = c.mode;
        }
    }
    if (Array.isArray(c.queue)) ctx.queue.push(...c.queue);
    for (const k of Object.keys(ctx.settings)) {
        if (c[k] !== undefined) ctx.settings[k] = c[k];
    }
}

export function delay(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

// Runs a fake from the command line: prints {"port":N,"url":...} and serves
// until killed. args: --port N --key K
export async function runMain(start, argv) {
    const opts = {};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--port') opts.port = Number(argv[++i]);
        else if (argv[i] === '--key') opts.key = argv[++i];
    }
    const fake = await start(opts);
    process.stdout.write(JSON.stringify({ port: fake.port, url: fake.url }) + '\n');
    const stop = () => { fake.close().then(() => process.exit(0)); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}
