// A lean event-stream client for benchmarks and tests that hold many
// streams at once: one plain HTTP/1.1 connection per stream (no pooling),
// events parsed as they arrive and stamped with their arrival time.

import http from 'node:http';

// Opens GET url with headers. Resolves once the response head is in:
// { status, headers, events, body, close(), closed } where events fills as
// {id, event, data, arrivedMs} arrive. onEvent(ev), when given, sees each
// one too. A non-200 answer is read to its end (body) before resolving.
export function openStream(url, { headers = {}, onEvent, timeoutMs = 30_000 } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
        const timer = setTimeout(() => req.destroy(new Error(`no answer from ${url} in ${timeoutMs} ms`)),
            timeoutMs);
        req.on('error', (e) => { clearTimeout(timer); reject(e); });
        req.on('response', (res) => {
            clearTimeout(timer);
            const s = { status: res.statusCode, headers: res.headers, events: [], body: '',
                closed: false, comments: 0 };
            let closedResolve;
            s.whenClosed = new Promise((r) => { closedResolve = r; });
            const markClosed = () => { if (!s.closed) { s.closed = true; closedResolve(); } };
            s.close = () => { req.destroy(); markClosed(); return s.whenClosed; };
            res.on('close', markClosed);
            res.on('error', markClosed);
            res.setEncoding('utf8');
            if (res.statusCode !== 200) {
                res.on('data', (d) => { s.body += d; });
                res.on('end', () => { markClosed(); resolve(s); });
                return;
            }
            let buf = '';
            let cur = { id: null, event: 'message', data: [] };
            res.on('data', (chunk) => {
                const now = Date.now();
                buf += chunk;
                let nl;
                while ((nl = buf.indexOf('\n')) >= 0) {
                    const line = buf.charCodeAt(nl - 1) === 13 ? buf.slice(0, nl - 1) : buf.slice(0, nl);
                    buf = buf.slice(nl + 1);
                    if (line === '') {
                        if (cur.data.length) {
                            const ev = { id: cur.id, event: cur.event, data: cur.data.join('\n'),
                                arrivedMs: now };
                            s.events.push(ev);
                            if (onEvent) onEvent(ev, s);
                        }
                        cur = { id: null, event: 'message', data: [] };
                        continue;
                    }
                    if (line.startsWith(':')) { s.comments++; continue; }
                    const colon = line.indexOf(':');
                    const field = colon < 0 ? line : line.slice(0, colon);
                    let value = colon < 0 ? '' : line.slice(colon + 1);
                    if (value.startsWith(' ')) value = value.slice(1);
                    if (field === 'id') cur.id = value;
                    else if (field === 'event') cur.event = value;
                    else if (field === 'data') cur.data.push(value);
                    else if (field === 'retry') s.retry = Number(value);
                }
            });
            resolve(s);
        });
    });
}

// Opens count streams, at most `parallel` connecting at a time. Throws
// (after closing what opened) if any is not a 200.
export async function openMany(count, url, opts = {}, parallel = 50) {
    const streams = [];
    let next = 0;
    let failure = null;
    const lane = async () => {
        while (!failure && next < count) {
            next++;
            try {
                const s = await openStream(url, opts);
                streams.push(s);
                if (s.status !== 200) failure = new Error(`stream answered ${s.status}: ${s.body}`);
            } catch (e) {
                failure = e;
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
    if (failure) {
        await Promise.all(streams.map((s) => s.close()));
        throw failure;
    }
    return streams;
}

export function percentile(sorted, p) {
    if (!sorted.length) return NaN;
    const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[k];
}
