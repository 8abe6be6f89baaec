// The HTTP API against a real stack: authentication, the two workflows end
// to end, the event stream, ownership, job actions, pagination, and a table of
// malformed requests that must each get a 4xx JSON error and write nothing.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, renameSync, mkdirSync, rmdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startStack, sleep, sha256, ffprobe, words, captionText, lastCueEnd, ledgerJobIds, readEvents, stackTest } from './harness.mjs';

const MAX_BODY = 65536;
const MAX_UNFINISHED = 5;
const RENDER_TIMEOUT = 240_000;
const SCRIPT_TIMEOUT = 60_000;

const execFileP = promisify(execFile);

let stack;

before(async () => {
    stack = await startStack({
        VF_X264_PRESET: 'ultrafast',
        VF_MAX_BODY_BYTES: String(MAX_BODY),
        // Per user; the tests below keep at most 5 of one user's jobs unfinished
        // except where they test the limit itself.
        VF_MAX_UNFINISHED_JOBS: String(MAX_UNFINISHED),
    });
}, { timeout: 320_000 });

after(async () => {
    if (stack) await stack.stop();
}, { timeout: 130_000 });

// A test whose failure keeps the stack folder and prints its logs.
const it = stackTest(() => stack, 60_000);

// Admin (demo) requests with the stack's bearer token.
function admin(method, path, opts = {}) {
    return stack.api(method, path, { token: stack.token, ...opts });
}

function expectError(r, status, code, what = '') {
    const ctx = `${what} → ${r.status} ${r.text.slice(0, 300)}`;
    assert.equal(r.status, status, `status: ${ctx}`);
    assert.match(r.headers.get('content-type') || '', /application\/json/, `content type: ${ctx}`);
    assert.ok(r.json && r.json.error, `error body: ${ctx}`);
    const codes = Array.isArray(code) ? code : [code];
    assert.ok(codes.includes(r.json.error.code), `code ${codes.join('|')} expected: ${ctx}`);
    assert.equal(typeof r.json.error.message, 'string', `message: ${ctx}`);
    assert.ok(r.json.error.message.length > 0, `message: ${ctx}`);
}

function expectStatus(r, status, what = '') {
    assert.equal(r.status, status, `${what} → ${r.status} ${r.text.slice(0, 500)}`);
}

async function jobCount() {
    return Number(await stack.sqlValue('SELECT COUNT(*) FROM jobs'));
}

async function submit(kind, topic, options, auth = { token: stack.token }) {
    const body = options ? { topic, options } : { topic };
    const r = await stack.api('POST', `/api/jobs/${kind}`, { body, ...auth });
    expectStatus(r, 202, `POST /api/jobs/${kind}`);
    assert.ok(r.json.job && Number.isInteger(r.json.job.id), `job in ${r.text}`);
    return r.json.job;
}

// Semi-auto job waiting for a person (script written).
async function scriptReadyJob(topic, auth) {
    const job = await submit('step-script', topic, { duration_s: 15, resolution: 720 }, auth);
    return stack.waitForState(job.id, ['SCRIPT_READY'], SCRIPT_TIMEOUT);
}

function narrationOf(script) {
    return script.scenes.map((s) => s.narration).join(' ');
}

function assertWordsIn(haystackText, needleText, what) {
    const have = new Set(words(haystackText));
    const missing = [...new Set(words(needleText))].filter((w) => !have.has(w));
    assert.deepEqual(missing, [], `${what}: narration words missing from the captions`);
}

// Top-level MP4 boxes in file order.
function mp4Boxes(buf) {
    const boxes = [];
    let off = 0;
    while (off + 8 <= buf.length) {
        let size = buf.readUInt32BE(off);
        const type = buf.toString('latin1', off + 4, off + 8);
        if (size === 1) size = Number(buf.readBigUInt64BE(off + 8));
        else if (size === 0) size = buf.length - off;
        boxes.push(type);
        if (size < 8) break;
        off += size;
    }
    return boxes;
}

async function ledgerRowsFor(id) {
    const text = readFileSync(stack.csvPath(), 'utf8');
    return ledgerJobIds(text).filter((v) => v === String(id)).length;
}

// Everything a COMPLETED job promises: the video in the API, the store and
// the ledger.
async function checkCompletedJob(job, { width, height }) {
    const id = job.id;
    assert.equal(job.state, 'COMPLETED');
    assert.equal(job.error, null, 'error is null');
    const v = job.video;
    assert.ok(v, `video in ${JSON.stringify(job)}`);
    for (const k of ['url', 'thumbnail_url', 'captions_url']) {
        assert.equal(typeof v[k], 'string', `video.${k}`);
    }
    assert.ok(typeof v.duration_s === 'number' && v.duration_s > 0, 'video.duration_s');
    assert.ok(Number.isInteger(v.size_bytes) && v.size_bytes > 0, 'video.size_bytes');
    assert.equal(v.width, width, 'video.width');
    assert.equal(v.height, height, 'video.height');
    assert.match(v.sha256, /^[0-9a-f]{64}$/, 'video.sha256');

    // The bytes through nginx.
    const mp4 = await admin('GET', `/api/jobs/${id}/media/video.mp4`);
    expectStatus(mp4, 200, 'media/video.mp4');
    assert.match(mp4.headers.get('content-type') || '', /^video\/mp4/, 'video content type');
    assert.equal(mp4.headers.get('x-accel-redirect'), null, 'X-Accel-Redirect stays inside nginx');
    assert.equal(mp4.bytes.length, v.size_bytes, 'size_bytes equals the bytes served');
    assert.equal(sha256(mp4.bytes), v.sha256, 'sha256 of the bytes served');
    const viaUrl = await admin('GET', new URL(v.url, stack.url + '/').pathname
        + new URL(v.url, stack.url + '/').search);
    expectStatus(viaUrl, 200, `video.url ${v.url}`);
    assert.equal(sha256(viaUrl.bytes), v.sha256, 'video.url serves the same bytes');

    const part = await admin('GET', `/api/jobs/${id}/media/video.mp4`, { headers: { range: 'bytes=0-99' } });
    expectStatus(part, 206, 'Range bytes=0-99');
    assert.equal(part.headers.get('content-range'), `bytes 0-99/${v.size_bytes}`);
    assert.deepEqual(part.bytes, mp4.bytes.subarray(0, 100));

    const boxes = mp4Boxes(mp4.bytes);
    assert.ok(boxes.includes('moov') && boxes.includes('mdat'), `boxes ${boxes}`);
    assert.ok(boxes.indexOf('moov') < boxes.indexOf('mdat'), `+faststart: moov before mdat (${boxes})`);

    const thumb = await admin('GET', `/api/jobs/${id}/media/thumb.jpg`);
    expectStatus(thumb, 200, 'media/thumb.jpg');
    assert.ok(thumb.bytes.length > 100 && thumb.bytes[0] === 0xff && thumb.bytes[1] === 0xd8,
        'thumb.jpg is a JPEG');

    // The stored file.
    const file = stack.jobFile(id, 'video.mp4');
    assert.ok(existsSync(file), `${file} exists`);
    assert.equal(sha256(readFileSync(file)), v.sha256, 'stored file matches');
    const probe = await ffprobe(file);
    const vs = probe.streams.find((s) => s.codec_type === 'video');
    const as = probe.streams.find((s) => s.codec_type === 'audio');
    assert.ok(vs && as, `video and audio streams: ${JSON.stringify(probe.streams)}`);
    assert.equal(vs.codec_name, 'h264');
    assert.equal(vs.pix_fmt, 'yuv420p');
    assert.equal(vs.width, width);
    assert.equal(vs.height, height);
    assert.equal(as.codec_name, 'aac');
    assert.equal(Number(as.sample_rate), 48000, 'AAC 48 kHz');
    const duration = Number(probe.format.duration);
    assert.ok(Math.abs(duration - v.duration_s) <= 0.05 * duration,
        `video.duration_s ${v.duration_s} vs ffprobe ${duration}`);

    // Captions: present, covering the narration, ending with the voice.
    const srtFile = stack.jobFile(id, 'captions.srt');
    const vttFile = stack.jobFile(id, 'captions.vtt');
    assert.ok(existsSync(srtFile) && existsSync(vttFile), 'captions.srt and .vtt stored');
    const srt = readFileSync(srtFile, 'utf8');
    const vtt = readFileSync(vttFile, 'utf8');
    assert.ok(vtt.startsWith('WEBVTT'), 'VTT header');
    const cueEnd = lastCueEnd(srt);
    assert.ok(cueEnd > 0, 'SRT has cues');
    assert.ok(Math.abs(duration - cueEnd) <= 0.10 * duration,
        `video duration ${duration} s vs narration (last cue end) ${cueEnd} s: more than 10 % apart`);
    assert.ok(job.script && Array.isArray(job.script.scenes), 'job.script');
    const narration = narrationOf(job.script);
    assertWordsIn(captionText(srt), narration, 'captions.srt');
    assertWordsIn(captionText(vtt), narration, 'captions.vtt');

    const vttServed = await admin('GET', `/api/jobs/${id}/media/captions.vtt`);
    expectStatus(vttServed, 200, 'media/captions.vtt');
    assert.equal(vttServed.text, vtt);
    const srtServed = await admin('GET', `/api/jobs/${id}/media/captions.srt`);
    expectStatus(srtServed, 200, 'media/captions.srt');
    const scriptServed = await admin('GET', `/api/jobs/${id}/media/script.json`);
    expectStatus(scriptServed, 200, 'media/script.json');
    assert.deepEqual(JSON.parse(scriptServed.text).scenes.map((s) => s.narration),
        job.script.scenes.map((s) => s.narration), 'stored script.json is the job script');

    assert.equal(await ledgerRowsFor(id), 1, `ledger has one row for job ${id}`);
}

// State events of a job (IDLE at creation allowed), then the log events.
async function checkJobEvents(id, expectedStates) {
    const rows = await stack.sql(
        `SELECT id, type, IFNULL(state,''), IFNULL(message,''), at FROM job_events WHERE job_id = ${id} ORDER BY id`);
    assert.ok(rows.length > 0, `job ${id} has events`);
    for (let i = 1; i < rows.length; i++) {
        assert.ok(Number(rows[i][0]) > Number(rows[i - 1][0]));
        assert.ok(rows[i][4] >= rows[i - 1][4], `event times in order: ${rows[i - 1][4]} then ${rows[i][4]}`);
    }
    let states = rows.filter((r) => r[1] === 'state').map((r) => r[2]);
    if (states[0] === 'IDLE') states = states.slice(1);
    assert.deepEqual(states, expectedStates, `state events of job ${id}`);
    const logs = rows.filter((r) => r[1] === 'log').map((r) => r[3]);
    for (const step of ['script', 'render', 'finalize']) {
        const n = logs.filter((m) => m.startsWith(`${step} started`)).length;
        assert.equal(n, 1, `job ${id}: one '${step} started' log event (got ${n}): ${JSON.stringify(logs)}`);
    }
    return rows;
}

const FULL_STATES = ['GENERATING_SCRIPT', 'ASSEMBLING_VIDEO', 'FINALIZING', 'COMPLETED'];
const SEMI_STATES = ['GENERATING_SCRIPT', 'SCRIPT_READY', 'ASSEMBLING_VIDEO', 'VIDEO_READY',
    'FINALIZING', 'COMPLETED'];

const jobs = {};   // shared between the tests below, in file order

it('health and options', async () => {
    const h = await stack.api('GET', '/api/health');
    expectStatus(h, 200, 'health');
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.db, 'ok');
    assert.ok(Number.isInteger(h.json.workers), `workers is a number: ${h.text}`);

    const o = await admin('GET', '/api/options');
    expectStatus(o, 200, 'options');
    assert.ok(o.json.palettes && o.json.palettes.length > 0, `palettes in ${o.text}`);
    const all = JSON.stringify(o.json);
    for (const choice of ['deep-sea', '9:16', '16:9', '1:1', 'espeak']) {
        assert.ok(all.includes(`"${choice}"`), `options mention ${choice}: ${all}`);
    }
    const secret = stack.config.db_password;
    assert.ok(secret && secret.length >= 8, 'the stack has a database password');
    for (const r of [h, o]) assert.ok(!r.text.includes(secret), 'no secret in responses');
});

it('authentication: tokens, login cookie, CSRF header, logout', async () => {
    const before = await jobCount();
    expectError(await stack.api('GET', '/api/jobs'), 401, 'unauthorized', 'GET /api/jobs without credentials');
    expectError(await stack.api('POST', '/api/jobs/generate', { body: { topic: 'no credentials here' } }),
        401, 'unauthorized', 'POST generate without credentials');
    expectError(await stack.api('GET', '/api/jobs', { token: 'not-a-real-token' }), 401, 'unauthorized',
        'bad bearer');
    expectError(await stack.api('GET', '/api/jobs', { token: 'a'.repeat(64) }), 401, 'unauthorized',
        'unknown bearer');
    expectError(await stack.api('GET', '/api/auth/me', { cookie: 'vf_session=' + 'b'.repeat(64) }),
        401, 'unauthorized', 'unknown session cookie');
    expectError(await stack.api('POST', '/api/auth/login',
        { body: { username: stack.user, password: stack.password + 'x' } }),
    401, 'invalid_credentials', 'login wrong password');
    expectError(await stack.api('POST', '/api/auth/login',
        { body: { username: 'nobody-here', password: 'whatever' } }),
    401, 'invalid_credentials', 'login unknown user');

    const me = await admin('GET', '/api/auth/me');
    expectStatus(me, 200, 'me by token');
    assert.equal(me.json.user.username, stack.user);
    assert.equal(me.json.user.role, 'admin');

    const login = await stack.api('POST', '/api/auth/login', {
        body: { username: stack.user, password: stack.password },
        headers: { 'content-type': 'application/json; charset=utf-8' } });
    expectStatus(login, 200, 'login');
    assert.equal(login.json.user.username, stack.user);
    assert.equal(login.json.user.role, 'admin');
    assert.ok(Number.isInteger(login.json.user.id));
    const setCookie = login.headers.get('set-cookie') || '';
    assert.match(setCookie, /vf_session=[^;]+/, 'vf_session cookie');
    assert.match(setCookie, /;\s*HttpOnly/i, 'HttpOnly');
    assert.match(setCookie, /;\s*SameSite=Strict/i, 'SameSite=Strict');
    const cookie = /(vf_session=[^;]*)/.exec(setCookie)[1];

    const meCookie = await stack.api('GET', '/api/auth/me', { cookie });
    expectStatus(meCookie, 200, 'me by cookie');
    assert.equal(meCookie.json.user.username, stack.user);

    const topic = 'why octopuses have three hearts';
    const opts = { duration_s: 15, resolution: 720 };
    expectError(await stack.api('POST', '/api/jobs/step-script', { cookie, body: { topic, options: opts } }),
        403, 'csrf_required', 'cookie POST without X-Requested-With');
    expectError(await stack.api('POST', '/api/jobs/step-script', { cookie,
        headers: { 'x-requested-with': 'XMLHttpRequest' }, body: { topic, options: opts } }),
    403, 'csrf_required', 'cookie POST with a foreign X-Requested-With');
    assert.equal(await jobCount(), before, 'refused requests wrote no job');

    const ok = await stack.api('POST', '/api/jobs/step-script', { cookie,
        headers: { 'x-requested-with': 'vf-dashboard' }, body: { topic, options: opts } });
    expectStatus(ok, 202, 'cookie POST with X-Requested-With');
    jobs.cookieJob = ok.json.job.id;
    assert.equal(await jobCount(), before + 1);

    expectError(await stack.api('DELETE', `/api/jobs/${jobs.cookieJob}`, { cookie }), 403, 'csrf_required',
        'cookie DELETE without X-Requested-With');
    expectError(await stack.api('POST', '/api/auth/logout', { cookie }), 403, 'csrf_required',
        'cookie logout without X-Requested-With');

    const out = await stack.api('POST', '/api/auth/logout', { cookie,
        headers: { 'x-requested-with': 'vf-dashboard' } });
    expectStatus(out, 204, 'logout');
    expectError(await stack.api('GET', '/api/auth/me', { cookie }), 401, 'unauthorized', 'me after logout');
    expectError(await stack.api('GET', '/api/jobs', { cookie }), 401, 'unauthorized', 'jobs after logout');
    // The token still works: logout ends one session only.
    expectStatus(await admin('GET', '/api/auth/me'), 200, 'token after logout');
});

it('malformed requests: a 4xx JSON error each, nothing written', async () => {
    const ready = await stack.waitForState(jobs.cookieJob, ['SCRIPT_READY'], SCRIPT_TIMEOUT);
    const R = ready.id;
    const scriptBefore = await stack.sqlValue(`SELECT script FROM jobs WHERE id = ${R}`);
    const gen = '/api/jobs/generate';
    const json = (o) => JSON.stringify(o);
    const T = 'a fine topic';
    const tooLarge = '{"topic":"' + 'a'.repeat(MAX_BODY + 10) + '"}';
    const deep = '{"topic":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    const badUtf8 = Buffer.concat([Buffer.from('{"topic":"caf'), Buffer.from([0xc3, 0x28]),
        Buffer.from(' au lait"}')]);
    const overlong = Buffer.concat([Buffer.from('{"topic":"dot'), Buffer.from([0xc0, 0xae]),
        Buffer.from('dot"}')]);
    const longNarration = { title: 't', scenes: [{ narration: 'x'.repeat(401) }] };

    // [method, path, {body|raw, headers}, status, code, field (a substring of error.field)]
    const rows = [
        ['POST', gen, { body: '{"topic":' }, 400, 'invalid_json'],
        ['POST', gen, { body: '' }, 400, 'invalid_json'],
        ['POST', gen, { body: '[]' }, 400, 'invalid_json'],
        ['POST', gen, { body: '["topic","abc"]' }, 400, 'invalid_json'],
        ['POST', gen, { body: '"just a string"' }, 400, 'invalid_json'],
        ['POST', gen, { body: '{"topic":"abc",}' }, 400, 'invalid_json'],
        ['POST', gen, { body: deep }, 400, 'invalid_json'],
        ['POST', gen, { raw: badUtf8, headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
        ['POST', gen, { raw: overlong, headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
        ['POST', gen, { body: '{"topic":"lone \\ud800 surrogate"}' }, 400, 'invalid_json'],
        // A NUL is either refused by the parser or as a bad topic: both are the client's fault.
        ['POST', gen, { body: '{"topic":"nul \\u0000 inside"}' }, 400, ['invalid_json', 'invalid_field']],
        ['POST', gen, { body: json({}) }, 400, 'missing_field', 'topic'],
        ['POST', gen, { body: json({ options: { duration_s: 15 } }) }, 400, 'missing_field', 'topic'],
        ['POST', gen, { body: json({ topic: 'ab' }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: '  ab \t ' }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: 'x'.repeat(201) }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: 'é'.repeat(201) }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: 12345 }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: ['abc'] }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: null }) }, 400, ['invalid_field', 'missing_field'], 'topic'],
        ['POST', gen, { body: json({ topic: ' \t\n  ' }) }, 400, 'invalid_field', 'topic'],
        ['POST', gen, { body: json({ topic: T, bogus: 1 }) }, 400, 'unknown_field', 'bogus'],
        ['POST', gen, { body: json({ topic: T, options: { bogus: 1 } }) }, 400, 'unknown_field', 'bogus'],
        ['POST', gen, { body: json({ topic: T, options: { style: { bogus: 1 } } }) }, 400, 'unknown_field', 'bogus'],
        ['POST', gen, { body: json({ topic: T, options: { duration_s: 5 } }) }, 400, 'invalid_option', 'duration_s'],
        ['POST', gen, { body: json({ topic: T, options: { duration_s: 999 } }) }, 400, 'invalid_option', 'duration_s'],
        ['POST', gen, { body: json({ topic: T, options: { duration_s: '45' } }) }, 400, 'invalid_option', 'duration_s'],
        ['POST', gen, { body: json({ topic: T, options: { duration_s: 45.5 } }) }, 400, 'invalid_option', 'duration_s'],
        ['POST', gen, { body: json({ topic: T, options: { aspect: '4:3' } }) }, 400, 'invalid_option', 'aspect'],
        ['POST', gen, { body: json({ topic: T, options: { resolution: 480 } }) }, 400, 'invalid_option', 'resolution'],
        ['POST', gen, { body: json({ topic: T, options: { tts: 'shout' } }) }, 400, 'invalid_option', 'tts'],
        ['POST', gen, { body: json({ topic: T, options: { style: { palette: 'no-such-palette' } } }) },
            400, 'invalid_option', 'palette'],
        ['POST', gen, { body: json({ topic: T, options: { style: { caption_color: 'red' } } }) },
            400, 'invalid_option', 'caption_color'],
        ['POST', gen, { body: json({ topic: T, options: { style: { caption_color: '#GG0000' } } }) },
            400, 'invalid_option', 'caption_color'],
        ['POST', gen, { body: json({ topic: T, options: { style: { caption_position: 'left' } } }) },
            400, 'invalid_option', 'caption_position'],
        ['POST', gen, { body: json({ topic: T, options: { music: { track: '../etc/passwd' } } }) },
            400, 'invalid_option', 'track'],
        ['POST', gen, { body: json({ topic: T, options: { music: { track: 'no-such-track.mp3' } } }) },
            400, 'invalid_option', 'track'],
        ['POST', gen, { body: json({ topic: T, options: { music: { volume: 2 } } }) },
            400, 'invalid_option', 'volume'],
        ['POST', gen, { body: tooLarge }, 413, 'body_too_large'],
        ['POST', gen, { body: '{"topic":"' + 'a'.repeat(3 << 20) + '"}' }, 413, 'body_too_large'],
        ['POST', gen, { raw: json({ topic: T }), headers: { 'content-type': 'text/plain' } },
            415, 'unsupported_media_type'],
        ['POST', gen, { raw: Buffer.from(json({ topic: T })) }, 415, 'unsupported_media_type'],
        ['POST', '/api/jobs/step-script', { body: json({}) }, 400, 'missing_field', 'topic'],
        ['POST', '/api/jobs/step-script', { body: json({ topic: 'ab' }) }, 400, 'invalid_field', 'topic'],
        ['GET', '/api/jobs/abc', {}, 400, 'invalid_id'],
        ['GET', '/api/jobs/0', {}, 400, 'invalid_id'],
        ['GET', '/api/jobs/-1', {}, 400, 'invalid_id'],
        ['GET', '/api/jobs/1.5', {}, 400, 'invalid_id'],
        ['GET', '/api/jobs/99999999999999999999999', {}, 400, 'invalid_id'],
        ['POST', '/api/jobs/abc/cancel', {}, 400, 'invalid_id'],
        ['POST', '/api/jobs/0/step-video', {}, 400, 'invalid_id'],
        ['GET', '/api/jobs/99999999', {}, 404, 'not_found'],
        ['POST', '/api/jobs/99999999/cancel', {}, 404, 'not_found'],
        ['GET', `/api/jobs/${R}/media/passwd`, {}, 404, 'not_found'],
        ['GET', '/api/nope', {}, 404, 'not_found'],
        ['GET', '/api/jobs/1/nope', {}, 404, 'not_found'],
        ['DELETE', '/api/jobs', {}, 405, 'method_not_allowed'],
        ['POST', '/api/health', { body: json({}) }, 405, 'method_not_allowed'],
        ['GET', '/api/auth/login', {}, 405, 'method_not_allowed'],
        ['PUT', `/api/jobs/${R}/cancel`, {}, 405, 'method_not_allowed'],
        ['GET', '/api/jobs?limit=0', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?limit=1000', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?limit=101', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?limit=abc', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?limit=-1', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?state=BOGUS', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?state=completed%27--', {}, 400, 'invalid_query'],
        ['GET', '/api/jobs?before=abc', {}, 400, 'invalid_query'],
        ['PUT', `/api/jobs/${R}/script`, { body: json({}) }, 400, 'missing_field', 'script'],
        ['PUT', `/api/jobs/${R}/script`, { body: json({ script: { title: 't', scenes: [] } }) },
            400, 'invalid_script'],
        ['PUT', `/api/jobs/${R}/script`, { body: json({ script: longNarration }) }, 400, 'invalid_script'],
        ['PUT', `/api/jobs/${R}/script`, { body: json({ script: ready.script, extra: 1 }) },
            400, 'unknown_field', 'extra'],
        ['PUT', `/api/jobs/${R}/script`, { body: '{"script":' }, 400, 'invalid_json'],
        ['POST', '/api/auth/login', { body: json({}) }, 400, 'missing_field'],
        ['POST', '/api/auth/login', { body: json({ username: stack.user }) }, 400, 'missing_field', 'password'],
        ['POST', '/api/auth/login', { body: json({ username: 5, password: 'x' }) }, 400, 'invalid_field', 'username'],
        ['POST', '/api/auth/login', { body: '{"username":' }, 400, 'invalid_json'],
    ];
    assert.ok(rows.length >= 30);

    const failures = [];
    for (const [method, path, req, status, code, field] of rows) {
        const what = `${method} ${path} ${String(req.body ?? req.raw ?? '').slice(0, 80)} (${String(req.body ?? req.raw ?? '').length} bytes)`;
        const countBefore = await jobCount();
        try {
            const r = await admin(method, path, { body: req.body, raw: req.raw, headers: req.headers });
            expectError(r, status, code, what);
            if (field) {
                assert.equal(typeof r.json.error.field, 'string', `error.field in ${r.text}`);
                assert.ok(r.json.error.field.includes(field), `error.field names ${field}: ${r.text}`);
            }
            if (code === 'invalid_script') {
                assert.ok(Array.isArray(r.json.error.fields) && r.json.error.fields.length > 0,
                    `error.fields: ${r.text}`);
                for (const f of r.json.error.fields) {
                    assert.equal(typeof f.field, 'string');
                    assert.equal(typeof f.message, 'string');
                }
            }
            assert.equal(await jobCount(), countBefore, `${what}: the jobs count changed`);
        } catch (e) {
            failures.push(`${what}: ${e.message}`);
        }
    }
    // The invalid narration names its scene.
    const r = await admin('PUT', `/api/jobs/${R}/script`, { body: { script: longNarration } });
    if (r.json?.error?.fields) {
        assert.ok(r.json.error.fields.some((f) => f.field === 'scenes[0].narration'),
            `fields name scenes[0].narration: ${r.text}`);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${rows.length} rows broke the contract`);
    assert.equal(await stack.sqlValue(`SELECT script FROM jobs WHERE id = ${R}`), scriptBefore,
        'refused script edits left the script as it was');
    assert.equal((await stack.getJob(R)).state, 'SCRIPT_READY');
}, 120_000);

it('full-auto jobs: 720p and the default 1080x1920 to COMPLETED', async () => {
    const a = await submit('generate', 'why octopuses have three hearts', { duration_s: 15, resolution: 720 });
    assert.equal(a.mode, 'full');
    assert.ok(['IDLE', 'GENERATING_SCRIPT'].includes(a.state), `new job state ${a.state}`);
    assert.equal(a.video, null);
    assert.equal(a.options.duration_s, 15);
    assert.equal(a.options.resolution, 720);
    assert.equal(a.options.aspect, '9:16', 'defaults filled in');
    const b = await submit('generate', 'how honeybees decide where to live', { duration_s: 15 });
    jobs.full720 = a.id;
    jobs.full1080 = b.id;

    const doneA = await stack.waitForState(a.id, ['COMPLETED'], RENDER_TIMEOUT);
    await checkCompletedJob(doneA, { width: 720, height: 1280 });
    const doneB = await stack.waitForState(b.id, ['COMPLETED'], RENDER_TIMEOUT);
    await checkCompletedJob(doneB, { width: 1080, height: 1920 });
}, 2 * RENDER_TIMEOUT + 60_000);

it('semi-auto job: script, edit, video, finalize', async () => {
    const job = await submit('step-script', 'the secret life of lichens', { duration_s: 15, resolution: 720 });
    assert.equal(job.mode, 'semi');
    jobs.semi = job.id;
    const ready = await stack.waitForState(job.id, ['SCRIPT_READY'], SCRIPT_TIMEOUT);
    assert.ok(ready.script && ready.script.scenes.length >= 1, `script: ${JSON.stringify(ready)}`);
    assert.equal(ready.video, null);

    // Edit the scene with the shortest narration: add a sentence no template writes.
    const edited = structuredClone(ready.script);
    let i = 0;
    edited.scenes.forEach((s, k) => { if (s.narration.length < edited.scenes[i].narration.length) i = k; });
    const extra = ' Zebras juggle marmalade beneath violet lanterns.';
    let narration = edited.scenes[i].narration + extra;
    if (narration.length > 400) narration = edited.scenes[i].narration.slice(0, 400 - extra.length) + extra;
    edited.scenes[i].narration = narration;
    const put = await admin('PUT', `/api/jobs/${job.id}/script`, { body: { script: edited } });
    expectStatus(put, 200, 'PUT script');
    assert.equal(put.json.job.state, 'SCRIPT_READY');
    assert.equal(put.json.job.script.scenes[i].narration, narration);
    assert.equal((await stack.getJob(job.id)).script.scenes[i].narration, narration, 'edit persisted');

    expectError(await admin('POST', `/api/jobs/${job.id}/step-finalize`), 409, 'wrong_state',
        'step-finalize in SCRIPT_READY');
    expectError(await admin('POST', `/api/jobs/${job.id}/retry`), 409, 'wrong_state', 'retry in SCRIPT_READY');

    const sv = await admin('POST', `/api/jobs/${job.id}/step-video`);
    expectStatus(sv, 202, 'step-video');
    const vready = await stack.waitForState(job.id, ['VIDEO_READY'], RENDER_TIMEOUT);
    assert.ok(vready.video && vready.video.width === 720 && vready.video.height === 1280,
        `video at VIDEO_READY: ${JSON.stringify(vready.video)}`);
    expectError(await admin('POST', `/api/jobs/${job.id}/step-video`), 409, 'wrong_state', 'step-video again');
    expectError(await admin('PUT', `/api/jobs/${job.id}/script`, { body: { script: edited } }), 409,
        'wrong_state', 'PUT script in VIDEO_READY');
    // The person can watch it before approving.
    const preview = await admin('GET', `/api/jobs/${job.id}/media/video.mp4`, { headers: { range: 'bytes=0-9' } });
    expectStatus(preview, 206, 'video at VIDEO_READY');

    const sf = await admin('POST', `/api/jobs/${job.id}/step-finalize`);
    expectStatus(sf, 202, 'step-finalize');
    const done = await stack.waitForState(job.id, ['COMPLETED'], SCRIPT_TIMEOUT);
    await checkCompletedJob(done, { width: 720, height: 1280 });
    const vtt = await admin('GET', `/api/jobs/${job.id}/media/captions.vtt`);
    expectStatus(vtt, 200, 'captions.vtt');
    assertWordsIn(captionText(vtt.text), extra, 'the edited narration in captions.vtt');
    expectError(await admin('POST', `/api/jobs/${job.id}/step-finalize`), 409, 'wrong_state',
        'step-finalize when COMPLETED');
}, RENDER_TIMEOUT + 120_000);

it('job_events: every state of the mode, in order, each step started once', async () => {
    assert.ok(jobs.full720 && jobs.full1080 && jobs.semi, 'earlier tests made the jobs');
    await checkJobEvents(jobs.full720, FULL_STATES);
    await checkJobEvents(jobs.full1080, FULL_STATES);
    await checkJobEvents(jobs.semi, SEMI_STATES);
});

it('event stream: replay with ids, then only what was missed', async () => {
    const id = jobs.full720;
    const rows = await stack.sql(
        `SELECT id, type, IFNULL(state,'') FROM job_events WHERE job_id = ${id} ORDER BY id`);
    const ids = rows.map((r) => r[0]);
    const auth = { authorization: `Bearer ${stack.token}` };
    const url = `${stack.url}/api/jobs/${id}/events`;

    const all = await readEvents(url, { headers: auth, want: (ev) => ev.length >= rows.length });
    assert.equal(all.status, 200, `events status: ${all.body}`);
    assert.match(all.ctype, /^text\/event-stream/);
    assert.deepEqual(all.events.map((e) => e.id), ids, 'replayed event ids');
    all.events.forEach((e, k) => {
        assert.equal(e.event, rows[k][1], `event type of id ${e.id}`);
        const data = JSON.parse(e.data);
        assert.equal(Number(data.job_id), id);
        if (e.event === 'state') {
            assert.equal(data.state, rows[k][2]);
            assert.ok(typeof data.at === 'string' && data.at.length > 0, 'state event has at');
        }
    });

    const n = Number(ids[Math.floor(ids.length / 2)]);
    const rest = ids.filter((x) => Number(x) > n);
    const resumed = await readEvents(url, { headers: { ...auth, 'last-event-id': String(n) },
        want: (ev) => ev.length >= rest.length });
    assert.equal(resumed.status, 200);
    assert.deepEqual(resumed.events.map((e) => e.id), rest, `Last-Event-ID: ${n}`);

    const byQuery = await readEvents(`${url}?last_event_id=${n}`, { headers: auth,
        want: (ev) => ev.length >= rest.length });
    assert.equal(byQuery.status, 200);
    assert.deepEqual(byQuery.events.map((e) => e.id), rest, `?last_event_id=${n}`);

    // The all-jobs stream resumes the same way; this job's events come in order.
    const first = Number(ids[0]) - 1;
    const mine = await readEvents(`${stack.url}/api/events`, { headers: { ...auth, 'last-event-id': String(first) },
        want: (ev) => ids.every((x) => ev.some((e) => e.id === x)) });
    assert.equal(mine.status, 200);
    const got = mine.events.map((e) => Number(e.id));
    assert.ok(got.every((x) => x > first), 'only events after Last-Event-ID');
    assert.ok(got.every((x, k) => k === 0 || x > got[k - 1]), 'ids increase');
    assert.deepEqual(mine.events.filter((e) => Number(JSON.parse(e.data).job_id) === id).map((e) => e.id), ids);

    const nobody = await readEvents(url, {});
    assert.equal(nobody.status, 401, 'event stream without credentials');
}, 90_000);

it('ownership: users see and act on their own jobs only, admin sees all', async () => {
    stack.addUser('alice', 'alice-password-1', 'user');
    stack.addUser('bob', 'bob-password-1', 'user');
    const aliceCookie = await stack.login('alice', 'alice-password-1');
    const aliceAuth = { cookie: aliceCookie, headers: { 'x-requested-with': 'vf-dashboard' } };
    const bobToken = stack.createToken('bob');
    assert.ok(bobToken.length >= 32, `token from vfctl: ${bobToken}`);

    const aliceJob = await scriptReadyJob('alice and the tides', aliceAuth);
    const bobJob = await scriptReadyJob('bob and the mountains', { token: bobToken });
    const A = aliceJob.id;
    const bob = (method, path, opts = {}) => stack.api(method, path, { token: bobToken, ...opts });

    expectError(await bob('GET', `/api/jobs/${A}`), 404, 'not_found', "bob GET alice's job");
    expectError(await bob('POST', `/api/jobs/${A}/cancel`), 404, 'not_found', "bob cancels alice's job");
    expectError(await bob('POST', `/api/jobs/${A}/step-video`), 404, 'not_found', "bob step-video");
    expectError(await bob('PUT', `/api/jobs/${A}/script`, { body: { script: aliceJob.script } }), 404,
        'not_found', "bob edits alice's script");
    expectError(await bob('DELETE', `/api/jobs/${A}`), 404, 'not_found', "bob deletes alice's job");
    expectError(await bob('GET', `/api/jobs/${A}/media/script.json`), 404, 'not_found', "bob reads alice's media");
    const stream = await readEvents(`${stack.url}/api/jobs/${A}/events`,
        { headers: { authorization: `Bearer ${bobToken}` }, timeoutMs: 5000 });
    assert.equal(stream.status, 404, "bob streams alice's job events");
    assert.equal((await stack.getJob(A)).state, 'SCRIPT_READY', "alice's job untouched");

    const bobList = await bob('GET', '/api/jobs?limit=100');
    expectStatus(bobList, 200, 'bob lists');
    assert.deepEqual(bobList.json.jobs.map((j) => j.id), [bobJob.id], 'bob sees only his job');
    const aliceList = await stack.api('GET', '/api/jobs?limit=100', { cookie: aliceCookie });
    expectStatus(aliceList, 200, 'alice lists');
    assert.deepEqual(aliceList.json.jobs.map((j) => j.id), [A], 'alice sees only hers');
    const me = await bob('GET', '/api/auth/me');
    assert.equal(me.json.user.role, 'user');

    const adminList = await admin('GET', '/api/jobs?limit=100');
    expectStatus(adminList, 200, 'admin lists');
    const adminIds = adminList.json.jobs.map((j) => j.id);
    assert.ok(adminIds.includes(A) && adminIds.includes(bobJob.id) && adminIds.includes(jobs.full720),
        `admin sees every job: ${adminIds}`);
    expectStatus(await admin('GET', `/api/jobs/${A}`), 200, "admin reads alice's job");

    // Free their unfinished jobs.
    expectStatus(await stack.api('POST', `/api/jobs/${A}/cancel`, aliceAuth), 202, 'alice cancels hers');
    expectStatus(await bob('POST', `/api/jobs/${bobJob.id}/cancel`), 202, 'bob cancels his');
}, 120_000);

it('cancel, retry and delete', async () => {
    const job = await scriptReadyJob('a job that will be cancelled');
    const c = await admin('POST', `/api/jobs/${job.id}/cancel`);
    expectStatus(c, 202, 'cancel in SCRIPT_READY');
    const cancelled = await stack.waitForState(job.id, ['CANCELLED'], 30_000);
    assert.equal(cancelled.state, 'CANCELLED');
    expectError(await admin('POST', `/api/jobs/${job.id}/cancel`), 409, 'wrong_state', 'cancel a CANCELLED job');
    expectError(await admin('POST', `/api/jobs/${job.id}/retry`), 409, 'wrong_state', 'retry a CANCELLED job');
    expectError(await admin('POST', `/api/jobs/${job.id}/step-video`), 409, 'wrong_state',
        'step-video a CANCELLED job');
    const states = (await stack.sql(`SELECT state FROM job_events WHERE job_id = ${job.id} AND type = 'state' ORDER BY id`))
        .map((r) => r[0]);
    assert.equal(states[states.length - 1], 'CANCELLED', `last state event: ${states}`);

    expectError(await admin('POST', `/api/jobs/${jobs.full720}/retry`), 409, 'wrong_state', 'retry a COMPLETED job');
    expectError(await admin('POST', `/api/jobs/${jobs.full720}/cancel`), 409, 'wrong_state', 'cancel a COMPLETED job');

    for (const id of [job.id, jobs.full1080]) {
        const d = await admin('DELETE', `/api/jobs/${id}`);
        expectStatus(d, 204, `DELETE job ${id}`);
        expectError(await admin('GET', `/api/jobs/${id}`), 404, 'not_found', `GET deleted job ${id}`);
        expectError(await admin('DELETE', `/api/jobs/${id}`), 404, 'not_found', `DELETE deleted job ${id}`);
        expectError(await admin('GET', `/api/jobs/${id}/media/script.json`), 404, 'not_found',
            `media of deleted job ${id}`);
        const list = await admin('GET', '/api/jobs?limit=100');
        assert.ok(!list.json.jobs.some((j) => j.id === id), `deleted job ${id} not listed`);
    }
}, 120_000);

it('topic length counts characters after trimming', async () => {
    const ok = [['é'.repeat(200), 'é'.repeat(200)], ['  abc  ', 'abc'], ['ü🐙x', 'ü🐙x']];
    for (const [topic, stored] of ok) {
        const j = await submit('step-script', topic, { duration_s: 15, resolution: 720 });
        assert.equal(j.topic, stored, `topic ${JSON.stringify(topic)} stored trimmed`);
        expectStatus(await admin('POST', `/api/jobs/${j.id}/cancel`), 202, 'cancel');
        await stack.waitForState(j.id, ['CANCELLED'], SCRIPT_TIMEOUT);
    }
});

it('keyset pagination and the state filter', async () => {
    stack.addUser('carol', 'carol-password-1', 'user');
    const token = stack.createToken('carol', 'pagination');
    const auth = { token };
    const created = [];
    for (let k = 0; k < 5; k++) {
        const j = await submit('step-script', `pagination topic number ${k}`, { duration_s: 15, resolution: 720 }, auth);
        created.push(j.id);
    }
    for (const id of created) await stack.waitForState(id, ['SCRIPT_READY'], SCRIPT_TIMEOUT, token);
    expectStatus(await stack.api('POST', `/api/jobs/${created[1]}/cancel`, auth), 202, 'cancel one');
    await stack.waitForState(created[1], ['CANCELLED'], 30_000, token);

    const seen = [];
    let before = null;
    let pages = 0;
    for (;;) {
        const q = `/api/jobs?limit=2${before !== null ? `&before=${before}` : ''}`;
        const r = await stack.api('GET', q, auth);
        expectStatus(r, 200, q);
        pages++;
        assert.ok(r.json.jobs.length <= 2, `${q}: at most 2 jobs`);
        assert.ok('next_before' in r.json, 'next_before present');
        seen.push(...r.json.jobs.map((j) => j.id));
        if (r.json.jobs.length < 2) assert.equal(r.json.next_before, null, `${q}: short page ends the list`);
        if (r.json.next_before === null) break;
        assert.ok(Number.isInteger(r.json.next_before), `next_before is an id: ${r.text}`);
        before = r.json.next_before;
        assert.ok(pages < 10, 'pagination terminates');
    }
    assert.equal(new Set(seen).size, seen.length, `no overlaps: ${seen}`);
    assert.deepEqual(seen, [...created].sort((x, y) => y - x), 'newest first, all of them');
    assert.equal(pages, 3, '5 jobs in pages of 2');

    const def = await stack.api('GET', '/api/jobs', auth);
    expectStatus(def, 200, 'default limit');
    assert.deepEqual(def.json.jobs.map((j) => j.id), [...created].sort((x, y) => y - x));
    assert.equal(def.json.next_before, null);

    const readyList = await stack.api('GET', '/api/jobs?state=SCRIPT_READY', auth);
    expectStatus(readyList, 200, 'state=SCRIPT_READY');
    assert.deepEqual(readyList.json.jobs.map((j) => j.id),
        created.filter((id) => id !== created[1]).sort((x, y) => y - x));
    assert.ok(readyList.json.jobs.every((j) => j.state === 'SCRIPT_READY'));
    const cancelledList = await stack.api('GET', '/api/jobs?state=CANCELLED', auth);
    assert.deepEqual(cancelledList.json.jobs.map((j) => j.id), [created[1]]);
    const completedList = await stack.api('GET', '/api/jobs?state=COMPLETED', auth);
    assert.deepEqual(completedList.json.jobs, []);
    assert.equal(completedList.json.next_before, null);
    const paged = await stack.api('GET', `/api/jobs?state=SCRIPT_READY&limit=1&before=${created[4]}`, auth);
    expectStatus(paged, 200, 'state + before + limit');
    assert.deepEqual(paged.json.jobs.map((j) => j.id), [created[3]]);

    for (const id of created) {
        if (id !== created[1]) await stack.api('POST', `/api/jobs/${id}/cancel`, auth);
    }
}, 120_000);

it('a failed step: FAILED with step and message, retry resumes there', async () => {
    const job = await submit('step-script', 'why lighthouses are striped', { duration_s: 15, resolution: 720 });
    await stack.waitForState(job.id, ['SCRIPT_READY'], SCRIPT_TIMEOUT);
    expectStatus(await admin('POST', `/api/jobs/${job.id}/step-video`), 202, 'step-video');
    const rendered = await stack.waitForState(job.id, ['VIDEO_READY'], RENDER_TIMEOUT);

    // The ledger cannot be written: a folder stands where the CSV file goes.
    const csv = stack.csvPath();
    const moved = existsSync(csv);
    if (moved) renameSync(csv, csv + '.aside');
    mkdirSync(csv);
    let failed;
    try {
        expectStatus(await admin('POST', `/api/jobs/${job.id}/step-finalize`), 202, 'step-finalize');
        failed = await stack.waitForState(job.id, ['FAILED'], 120_000);
    } finally {
        rmdirSync(csv);
        if (moved) renameSync(csv + '.aside', csv);
    }
    assert.ok(failed.error && failed.error.step === 'finalize', `error.step: ${JSON.stringify(failed.error)}`);
    assert.ok(typeof failed.error.message === 'string' && failed.error.message.length > 0, 'error.message');
    assert.ok(!failed.error.message.includes(stack.config.db_password), 'no secret in the error');
    expectError(await admin('POST', `/api/jobs/${job.id}/step-finalize`), 409, 'wrong_state', 'step-finalize when FAILED');

    const r = await admin('POST', `/api/jobs/${job.id}/retry`);
    expectStatus(r, 202, 'retry a FAILED job');
    const done = await stack.waitForState(job.id, ['COMPLETED'], SCRIPT_TIMEOUT);
    assert.equal(done.error, null, 'error cleared on success');
    assert.equal(done.video.sha256, rendered.video.sha256, 'the video made before the failure is kept');
    assert.equal(await ledgerRowsFor(job.id), 1, 'one ledger row after the retry');
    const logs = (await stack.sql(`SELECT message FROM job_events WHERE job_id = ${job.id} AND type = 'log'`))
        .map((x) => x[0]);
    const count = (step) => logs.filter((m) => m.startsWith(`${step} started`)).length;
    assert.deepEqual([count('script'), count('render'), count('finalize')], [1, 1, 2],
        `steps started (script, render, finalize): ${JSON.stringify(logs)}`);
    const states = (await stack.sql(`SELECT state FROM job_events WHERE job_id = ${job.id} AND type = 'state' ORDER BY id`))
        .map((x) => x[0]).filter((x) => x !== 'IDLE');
    assert.deepEqual(states, [...SEMI_STATES.slice(0, -1), 'FAILED', 'FINALIZING', 'COMPLETED']);
}, RENDER_TIMEOUT + 200_000);

it('too many unfinished jobs: 429 per user, nothing written', async () => {
    stack.addUser('dave', 'dave-password-1', 'user');
    const auth = { token: stack.createToken('dave') };
    const ids = [];
    for (let k = 0; k < MAX_UNFINISHED; k++) {
        ids.push((await submit('step-script', `limit topic ${k}`, { duration_s: 15, resolution: 720 }, auth)).id);
    }
    const before = await jobCount();
    for (const kind of ['step-script', 'generate']) {
        expectError(await stack.api('POST', `/api/jobs/${kind}`, { ...auth, body: { topic: 'one too many' } }),
            429, 'too_many_jobs', `${kind} over the limit`);
    }
    assert.equal(await jobCount(), before, 'refused jobs not written');
    // The limit is per user: the admin still can.
    const other = await submit('step-script', 'someone else entirely', { duration_s: 15, resolution: 720 });
    expectStatus(await admin('POST', `/api/jobs/${other.id}/cancel`), 202, 'cancel');
    // A finished job frees a place.
    await stack.waitForState(ids[0], ['SCRIPT_READY'], SCRIPT_TIMEOUT, auth.token);
    expectStatus(await stack.api('POST', `/api/jobs/${ids[0]}/cancel`, auth), 202, 'cancel one');
    await stack.waitForState(ids[0], ['CANCELLED'], 30_000, auth.token);
    ids.push((await submit('step-script', 'room again', { duration_s: 15, resolution: 720 }, auth)).id);
    for (const id of ids.slice(1)) {
        await stack.waitForState(id, ['SCRIPT_READY'], SCRIPT_TIMEOUT, auth.token);
        expectStatus(await stack.api('POST', `/api/jobs/${id}/cancel`, auth), 202, 'cancel');
    }
}, 120_000);

it('a rendering job: live events, DELETE refused while held, cancel stops it', async () => {
    const job = await submit('generate', 'a long story about the history of the telescope', { duration_s: 120 });
    const url = `${stack.url}/api/jobs/${job.id}/events`;
    const isState = (e, st) => e.event === 'state' && JSON.parse(e.data).state === st;
    const live = readEvents(url, { headers: { authorization: `Bearer ${stack.token}` }, timeoutMs: 120_000,
        want: (ev) => ev.some((e) => isState(e, 'CANCELLED')) });

    // Wait for the render to be under way: frames being written.
    const deadline = Date.now() + 60_000;
    for (;;) {
        const j = await stack.getJob(job.id);
        if (j.state === 'ASSEMBLING_VIDEO' && j.progress && j.progress.step === 'render'
            && j.progress.percent > 1 && j.progress.percent < 90) break;
        assert.ok(['IDLE', 'GENERATING_SCRIPT', 'ASSEMBLING_VIDEO'].includes(j.state),
            `job left the render before the test could act: ${JSON.stringify(j)}`);
        assert.ok(Date.now() < deadline, `no render progress after 60 s: ${JSON.stringify(j)}`);
        await sleep(100);
    }

    expectError(await admin('DELETE', `/api/jobs/${job.id}`), 409, 'wrong_state', 'DELETE a job a worker holds');
    const c = await admin('POST', `/api/jobs/${job.id}/cancel`);
    expectStatus(c, 202, 'cancel while rendering');
    await stack.waitForState(job.id, ['CANCELLED'], 30_000);

    const got = await live;
    assert.equal(got.status, 200);
    const states = got.events.filter((e) => e.event === 'state').map((e) => JSON.parse(e.data).state);
    assert.ok(states.includes('ASSEMBLING_VIDEO') && states[states.length - 1] === 'CANCELLED',
        `live state events: ${states}`);
    const progress = got.events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data));
    assert.ok(progress.some((p) => p.step === 'render' && p.percent > 0), 'render progress streamed');
    const ids = got.events.map((e) => Number(e.id));
    assert.ok(ids.every((x, k) => k === 0 || x > ids[k - 1]), 'ids increase');

    assert.equal(await ledgerRowsFor(job.id), 0, 'a cancelled job is not in the ledger');
    expectError(await admin('POST', `/api/jobs/${job.id}/step-finalize`), 409, 'wrong_state', 'finalize a cancelled job');
    // The worker lets go of it promptly.
    let held;
    for (let k = 0; k < 150; k++) {
        held = await stack.sqlValue(`SELECT IFNULL(lease_owner, '') FROM jobs WHERE id = ${job.id}`);
        if (held === '') break;
        await sleep(100);
    }
    assert.equal(held, '', 'the worker released the job within 15 s of the cancel');
    expectStatus(await admin('DELETE', `/api/jobs/${job.id}`), 204, 'DELETE after cancel');
}, 180_000);

it('database down: 503 db_unavailable, as JSON', async () => {
    const out = await execFileP('mariadb-admin', ['--no-defaults', '--protocol=socket',
        `--socket=${stack.dbSocket}`, '-u', 'root', 'shutdown']).catch((e) => e);
    assert.ok(!(out instanceof Error), `mariadb-admin shutdown: ${out.stderr || out.message}`);
    const h = await stack.api('GET', '/api/health');
    expectStatus(h, 503, 'health with the database down');
    assert.ok(h.json, `health answers JSON: ${h.text}`);
    assert.notEqual(h.json.status, 'ok');
    expectError(await admin('GET', '/api/jobs'), 503, 'db_unavailable', 'GET /api/jobs with the database down');
    expectError(await admin('POST', '/api/jobs/generate', { body: { topic: 'while the database sleeps' } }),
        503, 'db_unavailable', 'POST generate with the database down');
}, 60_000);
