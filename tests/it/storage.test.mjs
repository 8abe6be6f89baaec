// The S3 store and the Google Sheets ledger through the real stack, against
// the fakes in tests/fakes/ (S3 that checks every SigV4 signature with AWS's
// own signer; Google's token endpoint and Sheets). A job completes with every
// object byte-identical in the bucket and exactly one sheet row; the media
// endpoint redirects to a presigned URL S3 accepts; one S3 500 is retried; a
// revoked token is refreshed; a reply lost after the row was written, and a
// worker killed between the row and its commit, still leave one row; a wrong
// secret fails the job with a sentence that names s3_secret_key.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, sleep, sha256, waitGone } from './harness.mjs';
import { startFakeS3 } from '../fakes/s3.mjs';
import { startFakeGoogle } from '../fakes/google.mjs';

const BUCKET = 'media';
const PREFIX = 'vf/it';
const ACCESS_KEY = 'AKIAVFTESTEXAMPLE01';
const SECRET_KEY = 'vf/test+secret/KEYwJalrXUtnFEMI';
const SESSION_TOKEN = 'FwoGZXIvYXdzEXAMPLE//token+with/odd=chars';
const SHEET = '1VfTestSpreadsheetId_abc-123';
const CLIENT_EMAIL = 'vf-ledger@vf-test.iam.gserviceaccount.com';
const FILES = ['script.json', 'video.mp4', 'thumb.jpg', 'captions.srt', 'captions.vtt'];

let stack, s3, google, keyDir;

before(async () => {
    // A service-account key made for this run only.
    keyDir = mkdtempSync(join(tmpdir(), 'vf-it-key-'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    google = await startFakeGoogle({ publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }),
        clientEmail: CLIENT_EMAIL, spreadsheets: [SHEET] });
    const saFile = join(keyDir, 'service-account.json');
    writeFileSync(saFile, JSON.stringify({
        type: 'service_account', project_id: 'vf-test', private_key_id: 'test-key-1',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: CLIENT_EMAIL,
        client_id: '1', token_uri: google.tokenUrl,
    }), { mode: 0o600 });
    s3 = await startFakeS3({ accessKey: ACCESS_KEY, secretKey: SECRET_KEY, sessionToken: SESSION_TOKEN,
        buckets: [BUCKET] });
    stack = await startStack({
        VF_X264_PRESET: 'ultrafast', VF_LEASE_S: '6',
        VF_STORE: 's3', VF_S3_ENDPOINT: s3.url, VF_S3_BUCKET: BUCKET, VF_S3_REGION: 'us-east-1',
        VF_S3_PREFIX: PREFIX, VF_S3_ACCESS_KEY: ACCESS_KEY, VF_S3_SECRET_KEY: SECRET_KEY,
        VF_S3_SESSION_TOKEN: SESSION_TOKEN, VF_S3_PATH_STYLE: '1',
        // small enough that the video goes up as a multipart upload
        VF_S3_MULTIPART_BYTES: '1048576',
        VF_LEDGER: 'sheets', VF_SHEETS_SPREADSHEET_ID: SHEET, VF_SHEETS_RANGE: 'Sheet1!A1',
        VF_SHEETS_BASE_URL: google.url, VF_GOOGLE_SERVICE_ACCOUNT_FILE: saFile,
    });
}, { timeout: 320_000 });

after(async () => {
    try {
        if (stack) await stack.stop();
    } finally {
        await s3?.stop();
        await google?.stop();
        if (keyDir) rmSync(keyDir, { recursive: true, force: true });
    }
}, { timeout: 130_000 });

function wrap(fn) {
    return async () => {
        try {
            await fn();
        } catch (e) {
            stack?.markFailed();
            throw e;
        }
    };
}

async function submit(topic) {
    const r = await stack.api('POST', '/api/jobs/generate',
        { token: stack.token, body: { topic, options: { duration_s: 15, resolution: 720 } } });
    assert.equal(r.status, 202, r.text);
    return r.json.job.id;
}

function sheetRows() {
    return google.rows(SHEET);
}

function rowsOf(id) {
    return sheetRows().filter((r) => Number(r[0]) === id);
}

function objectKey(id, name) {
    return `${PREFIX}/jobs/${id}/${name}`;
}

async function logMessages(id) {
    return (await stack.sql(`SELECT message FROM job_events WHERE job_id = ${id} AND type = 'log' ORDER BY id`))
        .map((r) => r[0]);
}

async function stopAllWorkers(signal = 'SIGTERM') {
    for (const pid of stack.workerPids()) {
        process.kill(pid, signal);
        assert.ok(await waitGone(pid, 20_000), `worker ${pid} did not stop`);
    }
}

async function checkStoredJob(id, job) {
    assert.ok(job.video, 'no video on the completed job');
    for (const name of FILES) {
        const stored = await s3.getObject(BUCKET, objectKey(id, name));
        assert.ok(stored, `${objectKey(id, name)} is not in the bucket`);
        // The bytes a client gets through the media endpoint's redirect.
        const r = await stack.api('GET', `/api/jobs/${id}/media/${name}`, { token: stack.token });
        assert.equal(r.status, 302, `${name}: ${r.status} ${r.text}`);
        const location = r.headers.get('location');
        assert.ok(location.startsWith(`${s3.url}/${BUCKET}/${PREFIX}/jobs/${id}/${name}?`), location);
        assert.match(location, /X-Amz-Expires=300&/);
        const got = await fetch(location);
        assert.equal(got.status, 200, `${name}: presigned GET answered ${got.status} ${await got.clone().text()}`);
        const bytes = Buffer.from(await got.arrayBuffer());
        assert.equal(sha256(bytes), sha256(stored.bytes), `${name} differs between the bucket and the presigned GET`);
        if (name === 'video.mp4') {
            assert.equal(sha256(bytes), job.video.sha256, 'the stored video is not the one the job describes');
            assert.equal(bytes.length, job.video.size_bytes);
            assert.equal(stored.contentType, 'video/mp4');
        }
        if (name === 'script.json') assert.deepEqual(JSON.parse(bytes.toString('utf8')), job.script);
    }
}

function checkRow(row, job) {
    assert.equal(row.length, 14, JSON.stringify(row));
    const [jobId, created, completed, mode, topic, title, url, duration, size, width, height,
        providers, renderSeconds, user] = row;
    assert.equal(jobId, job.id);
    assert.equal(created, job.created_at);
    assert.match(completed, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(mode, job.mode);
    assert.equal(topic, job.topic);
    assert.equal(title, job.script.title);
    assert.ok(url.endsWith(`/api/jobs/${job.id}/media/video.mp4`), url);
    assert.ok(Math.abs(duration - job.video.duration_s) < 0.01, `duration ${duration} vs ${job.video.duration_s}`);
    assert.equal(size, job.video.size_bytes);
    assert.equal(width, job.video.width);
    assert.equal(height, job.video.height);
    assert.equal(providers, 'template+espeak');
    assert.ok(renderSeconds > 0, `render seconds ${renderSeconds}`);
    assert.equal(user, stack.user);
}

test('a job with store=s3 and ledger=sheets completes: objects identical, one row', { timeout: 240_000 }, wrap(async () => {
    const before = s3.state.requests.length;
    const id = await submit('the store and the ledger: how tides are measured');
    const job = await stack.waitForState(id, ['COMPLETED'], 200_000);
    await checkStoredJob(id, job);

    const mine = s3.state.requests.slice(before);
    const bad = mine.filter((r) => r.status >= 300);
    assert.deepEqual(bad, [], 'S3 refused some of the job\'s requests');
    const videoPath = `/${BUCKET}/${objectKey(id, 'video.mp4')}`;
    assert.ok(job.video.size_bytes >= 1048576, `a ${job.video.size_bytes}-byte video tests no multipart upload`);
    assert.ok(mine.some((r) => r.method === 'POST' && r.path === videoPath && r.query === 'uploads='),
        'the video did not go up as a multipart upload');
    assert.ok(mine.some((r) => r.method === 'PUT' && r.path === videoPath && /^partNumber=1&uploadId=/.test(r.query)));
    assert.ok(mine.some((r) => r.method === 'POST' && r.path === videoPath && /^uploadId=/.test(r.query) && r.status === 200));

    const rows = sheetRows();
    assert.deepEqual(rows[0].slice(0, 3), ['job_id', 'created_at', 'completed_at'], 'no header row');
    const mineRows = rowsOf(id);
    assert.equal(mineRows.length, 1, `rows for job ${id}: ${JSON.stringify(rows)}`);
    checkRow(mineRows[0], job);

    // A presigned URL with a changed signature is refused, as S3 would.
    const r = await stack.api('GET', `/api/jobs/${id}/media/thumb.jpg`, { token: stack.token });
    const tampered = r.headers.get('location').replace(/X-Amz-Signature=([0-9a-f])/, (m, c) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
    const t = await fetch(tampered);
    assert.equal(t.status, 403);
    assert.match(await t.text(), /<Code>SignatureDoesNotMatch<\/Code>/);

    // The dashboard may load media from the S3 origin (CSP).
    const page = await stack.api('GET', '/dashboard/video-factory');
    const csp = page.headers.get('content-security-policy') || '';
    assert.match(csp, new RegExp(`media-src 'self' blob: ${s3.url.replace(/[.:/]/g, '\\$&')}`), csp);
    assert.match(csp, new RegExp(`img-src 'self' data: blob: ${s3.url.replace(/[.:/]/g, '\\$&')}`), csp);
}));

test('a video above the part size goes up in several parts, byte-identical', { timeout: 300_000 }, wrap(async () => {
    const before = s3.state.requests.length;
    const r = await stack.api('POST', '/api/jobs/generate', { token: stack.token,
        body: { topic: 'a long multipart upload about the water cycle', options: { duration_s: 60, resolution: 1080 } } });
    assert.equal(r.status, 202, r.text);
    const id = r.json.job.id;
    const job = await stack.waitForState(id, ['COMPLETED'], 280_000);
    assert.ok(job.video.size_bytes > 5 << 20, `a ${job.video.size_bytes}-byte video fits in one part`);
    const videoPath = `/${BUCKET}/${objectKey(id, 'video.mp4')}`;
    const parts = s3.state.requests.slice(before)
        .filter((q) => q.method === 'PUT' && q.path === videoPath && /^partNumber=\d+&uploadId=/.test(q.query));
    const expected = Math.ceil(job.video.size_bytes / (5 << 20));
    assert.equal(parts.length, expected, `parts: ${JSON.stringify(parts)}`);
    const stored = await s3.getObject(BUCKET, objectKey(id, 'video.mp4'));
    assert.equal(sha256(stored.bytes), job.video.sha256);
    assert.equal(rowsOf(id).length, 1);
}));

test('one S3 500 is retried and the job completes', { timeout: 240_000 }, wrap(async () => {
    const before = s3.state.requests.length;
    s3.failNext(1, 500);
    const id = await submit('a retried upload about harbour cranes');
    const job = await stack.waitForState(id, ['COMPLETED'], 200_000);
    const served500 = s3.state.requests.slice(before).filter((r) => r.status === 500);
    assert.equal(served500.length, 1, 'the injected 500 was not served');
    await checkStoredJob(id, job);
    assert.equal(rowsOf(id).length, 1);
}));

test('a revoked access token is refreshed once and the row is written', { timeout: 240_000 }, wrap(async () => {
    const tokensBefore = google.calls('token', 200).length;
    const unauthorizedBefore = google.calls('sheets', 401).length;
    google.revokeTokens();
    const id = await submit('a refreshed token about lighthouses');
    const job = await stack.waitForState(id, ['COMPLETED'], 200_000);
    assert.equal(google.calls('sheets', 401).length, unauthorizedBefore + 1, 'Sheets never refused the old token');
    assert.equal(google.calls('token', 200).length, tokensBefore + 1, 'no new token was asked for');
    assert.equal(rowsOf(id).length, 1);
    checkRow(rowsOf(id)[0], job);
}));

test('a reply lost after the row was written does not add a second row', { timeout: 240_000 }, wrap(async () => {
    google.appendThenFail(1);
    const id = await submit('a lost reply about river deltas');
    await stack.waitForState(id, ['COMPLETED'], 200_000);
    assert.equal(google.state.appendThenFail, 0, 'the lost reply was never simulated');
    assert.equal(rowsOf(id).length, 1, JSON.stringify(sheetRows()));
    const logs = await logMessages(id);
    assert.equal(logs.filter((m) => m === 'finalize started').length, 2, logs.join(' | '));
}));

test('kill -9 between the ledger write and its commit leaves one row', { timeout: 300_000 }, wrap(async () => {
    google.holdAppends(120_000);
    try {
        const id = await submit('a killed finalize about salt marshes');
        // The row is in the sheet but the worker still waits for the reply.
        const deadline = Date.now() + 200_000;
        while (rowsOf(id).length === 0) {
            const job = await stack.getJob(id);
            assert.ok(!['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.state), JSON.stringify(job));
            assert.ok(Date.now() < deadline, 'the row never reached the sheet');
            await sleep(100);
        }
        assert.equal((await stack.getJob(id)).state, 'FINALIZING');
        const pids = stack.workerPids();
        assert.ok(pids.length > 0, 'no worker running');
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        for (const pid of pids) assert.ok(await waitGone(pid, 5_000));
        google.holdAppends(0);
        stack.startWorker();
        await stack.waitForState(id, ['COMPLETED'], 120_000);
        assert.equal(rowsOf(id).length, 1, JSON.stringify(sheetRows()));
        const logs = await logMessages(id);
        assert.equal(logs.filter((m) => m === 'finalize started').length, 2, logs.join(' | '));
        // Every object once, under its deterministic key.
        const keys = await s3.listKeys(BUCKET, `${PREFIX}/jobs/${id}/`);
        assert.deepEqual([...keys].sort(), FILES.map((n) => objectKey(id, n)).sort());
    } finally {
        google.holdAppends(0);
    }
}));

test('a spreadsheet not shared fails with the address to share it with; retry adds the row', { timeout: 240_000 }, wrap(async () => {
    google.share('someone-else@example.com');
    let id;
    try {
        google.failNext('sheets', 1, 429);
        id = await submit('an unshared sheet about kelp forests');
        const job = await stack.waitForState(id, ['FAILED'], 200_000);
        assert.equal(job.error.step, 'finalize');
        assert.match(job.error.message, new RegExp(`share the spreadsheet with ${CLIENT_EMAIL.replace(/[.]/g, '\\.')}`),
            job.error.message);
        assert.ok(google.calls('sheets', 429).length >= 1, 'the 429 was not served');
    } finally {
        google.share(CLIENT_EMAIL);
    }
    const r = await stack.api('POST', `/api/jobs/${id}/retry`, { token: stack.token });
    assert.equal(r.status, 202, r.text);
    const job = await stack.waitForState(id, ['COMPLETED'], 200_000);
    assert.equal(rowsOf(id).length, 1);
    checkRow(rowsOf(id)[0], job);
}));

test('a wrong secret fails the job with the signature message', { timeout: 240_000 }, wrap(async () => {
    await stopAllWorkers();
    const pid = stack.startWorker({ VF_S3_SECRET_KEY: 'not-the-secret' });
    try {
        const before = s3.state.requests.length;
        const id = await submit('a refused upload about glaciers');
        const job = await stack.waitForState(id, ['FAILED'], 120_000);
        assert.match(job.error.message, /S3 rejected the signature: check s3_secret_key/, job.error.message);
        assert.ok(s3.state.requests.slice(before).some((r) => r.code === 'SignatureDoesNotMatch'));
        assert.equal(rowsOf(id).length, 0);
        assert.equal(job.attempts, 1, 'a refused signature should not be retried');
    } finally {
        process.kill(pid, 'SIGTERM');
        await waitGone(pid, 20_000);
    }
}));
