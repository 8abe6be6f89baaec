// A fake S3 for the tests: s3rver (npm) stores the objects for real, behind
// a front that checks every request's AWS Signature Version 4 the way S3
// does, with AWS's own @smithy/signature-v4 (an implementation independent
// of ours). A bad signature gets 403 SignatureDoesNotMatch in S3's XML; an
// unknown key 403 InvalidAccessKeyId; another region 400
// AuthorizationHeaderMalformed; a body that does not match
// x-amz-content-sha256 400 XAmzContentSHA256Mismatch; an expired presigned
// URL 403 AccessDenied. Presigned GETs are checked too. failNext(n, status)
// makes the next n requests answer status (500 InternalError, 503 SlowDown,
// 403 AccessDenied); refuseWrites(status) answers every write that way until
// refuseWrites(0); hangNext(n) takes the next n requests and never answers
// them (until the client gives up or the fake stops).
//
// Use from a test:  const s3 = await startFakeS3({ accessKey, secretKey });
// or by hand:       node tests/fakes/s3.mjs [port]  (keys AK / SK, bucket media)

import { createServer, request as httpRequest } from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

// The hash constructor smithy asks for, on node:crypto.
class Sha256 {
    constructor(secret) {
        this.h = secret ? createHmac('sha256', typeof secret === 'string' ? secret : Buffer.from(secret))
            : createHash('sha256');
    }
    update(data) {
        this.h.update(typeof data === 'string' ? data : Buffer.from(data));
    }
    async digest() {
        return new Uint8Array(this.h.digest());
    }
}

const SIGNATURE_MISMATCH = 'The request signature we calculated does not match the signature you '
    + 'provided. Check your key and signing method.';

function xmlEscape(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function errorXml(code, message, extra = {}) {
    let x = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>`;
    for (const [k, v] of Object.entries(extra)) x += `<${k}>${xmlEscape(v)}</${k}>`;
    return x + `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
}

// "20150830T123600Z" → Date
function parseAmzDate(s) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
    if (!m) return null;
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

// Query string → { name: value | [values] } decoded, the shape smithy takes.
function parseQuery(qs, skip = () => false) {
    const out = {};
    if (!qs) return out;
    for (const part of qs.split('&')) {
        if (!part) continue;
        const eq = part.indexOf('=');
        const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
        const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
        if (skip(name)) continue;
        if (name in out) out[name] = [].concat(out[name], value);
        else out[name] = value;
    }
    return out;
}

export async function startFakeS3({ accessKey = 'AK', secretKey = 'SK', sessionToken = '',
    region = 'us-east-1', buckets = ['media'], port = 0 } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'vf-fake-s3-'));
    const inner = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true,
        configureBuckets: buckets.map((name) => ({ name })) });
    const innerAddr = await inner.run();
    const innerPort = innerAddr.port;

    const state = {
        requests: [],        // {method, path, query, status, code}
        failures: [],        // pending injected statuses
        refuseWrites: 0,     // status for every PUT, POST and DELETE; 0: none
        hangs: 0,            // the next n requests are never answered
        held: new Set(),     // responses of requests being held
    };

    function injected(status) {
        if (status === 503) return ['SlowDown', 'Please reduce your request rate.'];
        if (status === 403) return ['AccessDenied', 'Access Denied'];
        return ['InternalError', 'We encountered an internal error. Please try again.'];
    }

    const signer = (token) => new SignatureV4({
        credentials: { accessKeyId: accessKey, secretAccessKey: secretKey, sessionToken: token || undefined },
        region, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false,
    });

    // Returns null when the request is properly signed, else [status, code, message, extra].
    async function verify(req, rawPath, rawQuery, body) {
        const host = req.headers.host;
        const auth = req.headers.authorization;
        const q = parseQuery(rawQuery);
        if (auth) {
            const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
            if (!m) return [400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.'];
            const [, ak, day, reg, svc, signedList, signature] = m;
            if (ak !== accessKey) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: ak }];
            if (reg !== region || svc !== 's3') return [400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${reg}' is wrong; expecting '${region}'`];
            const sha = req.headers['x-amz-content-sha256'];
            if (!sha) return [400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256'];
            if (sha !== 'UNSIGNED-PAYLOAD') {
                const actual = createHash('sha256').update(body).digest('hex');
                if (sha !== actual) return [400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { ClientComputedContentSHA256: sha, S3ComputedContentSHA256: actual }];
            }
            const date = parseAmzDate(req.headers['x-amz-date']);
            if (!date || !req.headers['x-amz-date'].startsWith(day)) return [403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header'];
            if (Math.abs(Date.now() - date.getTime()) > 15 * 60_000) return [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'];
            const signed = signedList.split(';');
            if (!signed.includes('host')) return [403, 'AccessDenied', 'host must be a signed header'];
            for (const h of Object.keys(req.headers)) {
                if (h.startsWith('x-amz-') && !signed.includes(h)) return [403, 'AccessDenied', `There were headers present in the request which were not signed: ${h}`];
            }
            const token = req.headers['x-amz-security-token'] || '';
            if (sessionToken && token !== sessionToken) return [400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'];
            const headers = {};
            for (const h of signed) {
                const v = req.headersDistinct[h];
                if (v === undefined) return [403, 'AccessDenied', `signed header ${h} is missing`];
                headers[h] = v.join(',');
            }
            const [hostname, port] = host.split(':');
            const out = await signer(token).sign({ method: req.method, protocol: 'http:', hostname,
                port: port ? Number(port) : undefined, path: rawPath, query: q, headers, body },
            { signingDate: date });
            const got = /Signature=([0-9a-f]{64})/.exec(out.headers.authorization)[1];
            if (got !== signature) return [403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH, { AWSAccessKeyId: ak, SignatureProvided: signature }];
            return null;
        }
        if (q['X-Amz-Signature'] !== undefined) {
            if (q['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256') return [400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'];
            const cred = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/.exec(q['X-Amz-Credential'] || '');
            if (!cred) return [400, 'AuthorizationQueryParametersError', 'Error parsing the X-Amz-Credential parameter'];
            if (cred[1] !== accessKey) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
            if (cred[3] !== region) return [400, 'AuthorizationQueryParametersError', `the region '${cred[3]}' is wrong; expecting '${region}'`];
            const date = parseAmzDate(q['X-Amz-Date']);
            const expires = Number(q['X-Amz-Expires']);
            if (!date || !(expires > 0 && expires <= 604800)) return [400, 'AuthorizationQueryParametersError', 'bad X-Amz-Date or X-Amz-Expires'];
            if (Date.now() > date.getTime() + expires * 1000) return [403, 'AccessDenied', 'Request has expired', { Expires: new Date(date.getTime() + expires * 1000).toISOString() }];
            if (Date.now() < date.getTime() - 15 * 60_000) return [403, 'AccessDenied', 'Request is not valid yet'];
            const signedList = (q['X-Amz-SignedHeaders'] || '').split(';');
            const headers = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
            for (const h of signedList) {
                if (req.headers[h] === undefined) return [403, 'AccessDenied', `signed header ${h} is missing`];
                headers[h] = req.headers[h];
            }
            const rest = parseQuery(rawQuery, (n) => n.startsWith('X-Amz-'));
            const token = q['X-Amz-Security-Token'] || '';
            if (sessionToken && token !== sessionToken) return [400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'];
            const [hostname, port] = host.split(':');
            const out = await signer(token).presign({ method: req.method, protocol: 'http:', hostname,
                port: port ? Number(port) : undefined, path: rawPath, query: rest, headers },
            { signingDate: date, expiresIn: expires,
                unhoistableHeaders: new Set(['x-amz-content-sha256']),
                unsignableHeaders: new Set(['x-amz-content-sha256']) });
            if (out.query['X-Amz-Signature'] !== q['X-Amz-Signature']) return [403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH];
            return null;
        }
        return [403, 'AccessDenied', 'Access Denied'];
    }

    function send(res, status, code, message, extra) {
        const body = errorXml(code, message, extra);
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
    }

    function forward(req, res, rawPath, rawQuery, body) {
        const query = (rawQuery || '').split('&').filter((p) => p && !p.startsWith('X-Amz-')).join('&');
        const headers = {};
        for (const [k, v] of Object.entries(req.headers)) {
            if (['authorization', 'host', 'expect', 'connection', 'x-amz-security-token', 'transfer-encoding'].includes(k)) continue;
            headers[k] = v;
        }
        headers['content-length'] = String(body.length);
        return new Promise((resolve) => {
            const out = httpRequest({ host: '127.0.0.1', port: innerPort, method: req.method,
                path: rawPath + (query ? `?${query}` : ''), headers }, (ires) => {
                const h = { ...ires.headers };
                delete h.connection;
                res.writeHead(ires.statusCode, h);
                ires.pipe(res);
                ires.on('end', () => resolve(ires.statusCode));
            });
            out.on('error', (e) => { send(res, 500, 'InternalError', e.message); resolve(500); });
            out.end(body);
        });
    }

    const server = createServer(async (req, res) => {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const body = Buffer.concat(chunks);
        const qi = req.url.indexOf('?');
        const rawPath = qi < 0 ? req.url : req.url.slice(0, qi);
        const rawQuery = qi < 0 ? '' : req.url.slice(qi + 1);
        const entry = { method: req.method, path: rawPath, query: rawQuery, size: body.length, status: 0, code: '' };
        state.requests.push(entry);
        try {
            if (state.hangs > 0) {
                state.hangs--;
                entry.status = 'held';
                state.held.add(res);
                res.on('close', () => state.held.delete(res));
                return;
            }
            const write = ['PUT', 'POST', 'DELETE'].includes(req.method);
            if (state.failures.length || (write && state.refuseWrites)) {
                const status = state.failures.length ? state.failures.shift() : state.refuseWrites;
                const [code, message] = injected(status);
                entry.status = status;
                entry.code = code;
                return send(res, status, code, message);
            }
            const bad = await verify(req, rawPath, rawQuery, body);
            if (bad) {
                entry.status = bad[0];
                entry.code = bad[1];
                return send(res, ...bad);
            }
            entry.status = await forward(req, res, rawPath, rawQuery, body);
        } catch (e) {
            entry.status = 500;
            entry.code = 'InternalError';
            send(res, 500, 'InternalError', String(e && e.stack || e));
        }
    });
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    const url = `http://127.0.0.1:${server.address().port}`;

    return {
        url,
        port: server.address().port,
        state,
        // The next n requests answer status (before any signature check).
        failNext(n, status = 500) {
            for (let i = 0; i < n; i++) state.failures.push(status);
        },
        clearFailures() {
            state.failures.length = 0;
        },
        // Every PUT, POST and DELETE answers status (403 AccessDenied, 500 ...)
        // until refuseWrites(0).
        refuseWrites(status) {
            state.refuseWrites = status;
        },
        // The next n requests are read and never answered.
        hangNext(n) {
            state.hangs += n;
        },
        // An object as stored, read from s3rver directly (no signature).
        async getObject(bucket, key) {
            const r = await fetch(`http://127.0.0.1:${innerPort}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`);
            if (r.status !== 200) return null;
            return { bytes: Buffer.from(await r.arrayBuffer()), contentType: r.headers.get('content-type') };
        },
        async listKeys(bucket, prefix = '') {
            const r = await fetch(`http://127.0.0.1:${innerPort}/${bucket}?prefix=${encodeURIComponent(prefix)}`);
            const xml = await r.text();
            return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
        },
        async stop() {
            state.hangs = 0;
            for (const res of state.held) res.destroy();
            await new Promise((r) => server.close(r));
            server.closeAllConnections?.();
            await inner.close();
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const s3 = await startFakeS3({ port: Number(process.argv[2] || 0) });
    process.stdout.write(`fake S3 on ${s3.url} (access key AK, secret SK, bucket media)\n`);
}
