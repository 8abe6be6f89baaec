// Faults with nothing lost, through the real stack:
// - MariaDB stopped and started again while jobs render and queue and the
//   API is under a steady load: only 503 db_unavailable (JSON) while it is
//   down, no request hangs, then vf-api answers again, a stream opened
//   before the outage delivers every event after it, the workers claim
//   again, and every job ends with one video and one ledger row;
// - an S3 that takes a request and never answers: the upload times out
//   (s3_timeout_s) and is tried again;
// - a store that refuses writes (S3 403 AccessDenied, a local store folder
//   that cannot be created): the job fails with a message that says what to
//   fix, and a retry once it is fixed completes it with one video and one row.
// (A model that never answers is in script.test.mjs.)

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, readdirSync, existsSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, sleep, sha256, ledgerJobIds, waitGone, stackTest } from './harness.mjs';
import { startFakeS3 } from '../fakes/s3.mjs';
import { openStream } from '../bench/sse-client.mjs';

const BUCKET = 'media';
const PREFIX = 'vf/faults';
const ACCESS_KEY = 'AKIAVFFAULTS0000001';
const SECRET_KEY = 'vf/faults+secret/KEY';
const S3_TIMEOUT_S = 2;
const REQUEST_BOUND_MS = 12_000;    // no request may take longer, outage or not

let stack, s3;

before(async () => {
    s3 = await startFakeS3({ accessKey: ACCESS_KEY, secretKey: SECRET_KEY, buckets: [BUCKET] });
    stack = await startStack({
        // The lease outlives the outage (the heartbeat renews it every 2 s), so
        // a step that ran through it must not run again.
        VF_WORKERS: '2', VF_X264_PRESET: 'ultrafast', VF_LEASE_S: '15', VF_POLL_MS: '200',
        VF_MAX_ATTEMPTS: '3', VF_MAX_UNFINISHED_JOBS: '10000', VF_SSE_KEEPALIVE_S: '2',
        // Used only by the workers the S3 tests start (VF_STORE=s3 there).
        VF_S3_ENDPOINT: s3.url, VF_S3_BUCKET: BUCKET, VF_S3_REGION: 'us-east-1', VF_S3_PREFIX: PREFIX,
        VF_S3_ACCESS_KEY: ACCESS_KEY, VF_S3_SECRET_KEY: SECRET_KEY, VF_S3_PATH_STYLE: '1',
        VF_S3_TIMEOUT_S: String(S3_TIMEOUT_S),
    });
}, { timeout: 320_000 });

after(async () => {
    try {
        if (stack) await stack.stop();
    } finally {
        await s3?.stop();
    }
}, { timeout: 130_000 });

const it = stackTest(() => stack);

// ---- helpers ----

async function submit(path, topic, options = {}) {
    const r = await stack.api('POST', path, { token: stack.token,
        body: { topic, options: { duration_s: 15, resolution: 720, ...options } } });
    assert.equal(r.status, 202, r.text);
    return r.json.job.id;
}

async function stopWorkers() {
    const pids = stack.workerPids();
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    for (const pid of pids) assert.ok(await waitGone(pid, 30_000), `worker ${pid} did not stop`);
}

async function logMessages(id) {
    return (await stack.sql(`SELECT message FROM job_events WHERE job_id = ${id} AND type = 'log' ORDER BY id`))
        .map((r) => r[0]);
}

function ledgerRowsOf(id) {
    const path = stack.csvPath();
    if (!existsSync(path)) return 0;
    return ledgerJobIds(readFileSync(path, 'utf8')).filter((x) => Number(x) === id).length;
}

// A completed job of the local store: its video is the one it describes,
// no temporary file is left, and the ledger holds one row for it.
function checkLocalJob(job) {
    assert.equal(job.state, 'COMPLETED', JSON.stringify(job));
    assert.ok(job.video, `job ${job.id} has no video`);
    const bytes = readFileSync(stack.jobFile(job.id, 'video.mp4'));
    assert.equal(sha256(bytes), job.video.sha256, `job ${job.id}: the stored video is not the job's`);
    const dir = join(stack.storeDir(), 'jobs', String(job.id));
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.tmp')), [], 'temporary files left in the store');
    assert.equal(ledgerRowsOf(job.id), 1, `ledger rows for job ${job.id}`);
}

async function until(what, fn, ms, every = 200) {
    const deadline = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v) return v;
        assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
        await sleep(every);
    }
}

// One timed API call of the load loop; never throws.
async function timedCall(method, path, body) {
    const started = Date.now();
    const rec = { method, path, started, ms: 0, status: 0, code: null, json: false, error: null };
    try {
        const headers = { authorization: `Bearer ${stack.token}` };
        if (body) headers['content-type'] = 'application/json';
        const res = await fetch(stack.url + path, { method, headers, body: body && JSON.stringify(body),
            signal: AbortSignal.timeout(REQUEST_BOUND_MS + 8_000) });
        const text = await res.text();
        rec.status = res.status;
        rec.json = (res.headers.get('content-type') || '').includes('application/json');
        try { const j = JSON.parse(text); rec.code = j.error ? j.error.code : null; rec.id = j.job?.id; } catch { rec.json = false; }
    } catch (e) {
        rec.error = String(e);
    }
    rec.ms = Date.now() - started;
    return rec;
}

// ---- MariaDB restarted under load ----

it('MariaDB restarted while jobs run and the API is under load: 503s only meanwhile, nothing lost', async () => {
    const stream = await openStream(`${stack.url}/api/events`,
        { headers: { authorization: `Bearer ${stack.token}` }, timeoutMs: 10_000 });
    assert.equal(stream.status, 200, stream.body);

    // Six short full-auto jobs on two workers: some render while others queue.
    const jobs = [];
    for (let i = 0; i < 6; i++) jobs.push(await submit('/api/jobs/generate', `an outage test number ${i} about rivers`));
    const inState = async (where) => Number(await stack.sqlValue(
        `SELECT COUNT(*) FROM jobs WHERE id IN (${jobs.join(',')}) AND ${where}`));
    const rendering = () => inState("state = 'ASSEMBLING_VIDEO' AND lease_owner IS NOT NULL");
    await until('a job renders', async () => await rendering() > 0, 60_000, 100);

    // The load: three readers of GET /api/jobs/:id and one writer of step-script jobs.
    const calls = [];
    const created = [];        // topics whose POST answered 202
    const topics = [];         // every topic a POST sent
    let loading = true;
    let serial = 0;
    const readers = [0, 1, 2].map(async (k) => {
        let i = k;
        while (loading) {
            calls.push(await timedCall('GET', `/api/jobs/${jobs[i++ % jobs.length]}`));
            await sleep(20);
        }
    });
    const writer = (async () => {
        while (loading) {
            const topic = `an outage load job ${++serial} about tides`;
            topics.push(topic);
            const rec = await timedCall('POST', '/api/jobs/step-script', { topic, options: { duration_s: 15 } });
            rec.topic = topic;
            calls.push(rec);
            if (rec.status === 202) created.push(topic);
            await sleep(150);
        }
    })();
    await sleep(1500);

    const eventsBefore = Number(await stack.sqlValue('SELECT COALESCE(MAX(id), 0) FROM job_events'));
    const renderingAtStop = await rendering();
    const queuedAtStop = await inState("lease_owner IS NULL AND state NOT IN ('COMPLETED', 'FAILED')");
    const stopAsked = Date.now();
    await stack.run(['db-stop'], 90_000);
    const stopped = Date.now();
    await sleep(4000);
    const startAsked = Date.now();
    await stack.run(['db-start'], 120_000);
    const started = Date.now();
    const eventsAtRestart = Number(await stack.sqlValue('SELECT COALESCE(MAX(id), 0) FROM job_events'));

    // Every API process reconnects: the last 30 reads all answer 200.
    await until('vf-api answers 200 again', () => {
        const gets = calls.filter((c) => c.method === 'GET' && c.started > started);
        return gets.length >= 30 && gets.slice(-30).every((c) => c.status === 200);
    }, 30_000);
    await sleep(1000);
    loading = false;
    await Promise.all([...readers, writer]);

    // The answers: 200/202 or 503 db_unavailable in JSON, nothing else, none slow.
    const odd = calls.filter((c) => !([200, 202].includes(c.status)
        || (c.status === 503 && c.json && c.code === 'db_unavailable')));
    assert.deepEqual(odd, [], 'answers other than 200/202 and 503 db_unavailable');
    const slow = calls.filter((c) => c.ms > REQUEST_BOUND_MS);
    assert.deepEqual(slow, [], `requests slower than ${REQUEST_BOUND_MS} ms`);
    const beforeOutage = calls.filter((c) => c.started + c.ms < stopAsked);
    assert.ok(beforeOutage.length > 10 && beforeOutage.every((c) => c.status !== 503), 'a 503 before the outage');
    const during = calls.filter((c) => c.started > stopped && c.started + c.ms < startAsked);
    assert.ok(during.length > 10, `only ${during.length} requests while the database was down`);
    assert.deepEqual(during.filter((c) => c.status !== 503), [], 'a request succeeded while the database was down');
    assert.ok(during.some((c) => c.method === 'POST'), 'no job creation was tried during the outage');
    const failed503 = calls.filter((c) => c.status === 503).length;
    assert.ok(renderingAtStop > 0 && queuedAtStop > 0,
        `the outage should meet jobs rendering (${renderingAtStop}) and queued (${queuedAtStop})`);

    // The stream opened before the outage delivers what happens after it.
    await until('the stream delivers events written after the restart',
        () => stream.events.some((e) => Number(e.id) > eventsAtRestart), 30_000);
    assert.ok(!stream.closed, 'the stream ended during the outage');

    // Every job ends: the full-auto ones COMPLETED once, the step-by-step ones SCRIPT_READY.
    for (const id of jobs) {
        const job = await stack.waitForState(id, ['COMPLETED'], 180_000);
        checkLocalJob(job);
        // Each step once: a render finished during the outage is recorded
        // once the database is back, not thrown away and run again.
        const logs = await logMessages(id);
        for (const step of ['script', 'render', 'finalize']) {
            assert.equal(logs.filter((m) => m === `${step} started`).length, 1, `job ${id}: ${logs.join(' | ')}`);
        }
    }
    const rows = await stack.sql(`SELECT topic, id, state FROM jobs WHERE topic LIKE 'an outage load job %'`);
    const byTopic = new Map();
    for (const [topic, id, state] of rows) byTopic.set(topic, [...(byTopic.get(topic) || []), { id: Number(id), state }]);
    for (const topic of created) assert.equal(byTopic.get(topic)?.length, 1, `the accepted job "${topic}" is not there once`);
    for (const topic of topics) assert.ok((byTopic.get(topic)?.length || 0) <= 1, `"${topic}" was created twice`);
    const createdAfter = calls.filter((c) => c.method === 'POST' && c.status === 202 && c.started > started);
    assert.ok(createdAfter.length > 0, 'no job was created after the restart');
    for (const [topic, list] of byTopic) {
        await until(`job "${topic}" gets its script`, async () =>
            (await stack.getJob(list[0].id)).state === 'SCRIPT_READY', 120_000, 250);
    }

    // Nothing the stream should have carried is missing: from its first event
    // to its last, exactly the rows of the table, in order.
    const maxId = Number(await stack.sqlValue('SELECT MAX(id) FROM job_events'));
    await until('the stream catches up with the table', () => stream.events.some((e) => Number(e.id) >= maxId), 20_000);
    stream.close();
    const got = stream.events.map((e) => Number(e.id));
    const first = got[0];
    const want = (await stack.sql(`SELECT id FROM job_events WHERE id >= ${first} AND id <= ${maxId} ORDER BY id`))
        .map((r) => Number(r[0]));
    assert.ok(first <= eventsBefore, 'the stream saw nothing before the outage');
    assert.deepEqual(got.filter((id) => id <= maxId), want, 'the stream lost or reordered events');
    process.stderr.write(`# outage: ${calls.length} requests, ${failed503} answered 503, `
        + `${during.length} while down, slowest ${Math.max(...calls.map((c) => c.ms))} ms; `
        + `${renderingAtStop} jobs rendering and ${queuedAtStop} queued at the stop; `
        + `db down ${startAsked - stopped} ms, start took ${started - startAsked} ms\n`);
}, 300_000);

// ---- stores that refuse or hang ----

const FILES = ['script.json', 'video.mp4', 'thumb.jpg', 'captions.srt', 'captions.vtt'];

function objectKey(id, name) {
    return `${PREFIX}/jobs/${id}/${name}`;
}

// From here on one worker runs, with env on top of the stack's settings.
async function useWorker(env = {}) {
    await stopWorkers();
    if (env !== null) stack.startWorker(env);
}

async function checkS3Job(job) {
    assert.equal(job.state, 'COMPLETED', JSON.stringify(job));
    for (const name of FILES) {
        const stored = await s3.getObject(BUCKET, objectKey(job.id, name));
        assert.ok(stored, `${objectKey(job.id, name)} is not in the bucket`);
        if (name === 'video.mp4') assert.equal(sha256(stored.bytes), job.video.sha256, 'the stored video is not the job\'s');
    }
    assert.equal(ledgerRowsOf(job.id), 1, `ledger rows for job ${job.id}`);
}

it('a local store folder that cannot be created fails the job naming the path; retry completes it', async () => {
    await useWorker(null);
    const id = await submit('/api/jobs/generate', 'a refused local store about canals');
    // The job's folder is a file: nothing can be written under it, even as root.
    const dir = join(stack.storeDir(), 'jobs', String(id));
    mkdirSync(join(stack.storeDir(), 'jobs'), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'not a folder\n');
    stack.startWorker();
    const failed = await stack.waitForState(id, ['FAILED'], 60_000);
    assert.equal(failed.error.step, 'script', JSON.stringify(failed.error));
    assert.ok(failed.error.message.includes(dir), `the message does not name ${dir}: ${failed.error.message}`);
    assert.match(failed.error.message, /Not a directory/);
    assert.equal(ledgerRowsOf(id), 0);

    rmSync(dir, { force: true });
    const r = await stack.api('POST', `/api/jobs/${id}/retry`, { token: stack.token });
    assert.equal(r.status, 202, r.text);
    const job = await stack.waitForState(id, ['COMPLETED'], 120_000);
    assert.ok(statSync(dir).isDirectory());
    checkLocalJob(job);
    const logs = await logMessages(id);
    assert.equal(logs.filter((m) => m === 'script started').length, 2, logs.join(' | '));
    assert.equal(logs.filter((m) => m === 'finalize started').length, 1, logs.join(' | '));
}, 240_000);

it('an S3 that never answers: the upload times out, is tried again, and the job completes', async () => {
    await useWorker({ VF_STORE: 's3' });
    const before = s3.state.requests.length;
    // Every try of the first upload (three in one attempt of the step) is held.
    s3.hangNext(3);
    const id = await submit('/api/jobs/generate', 'a silent store about harbours');
    const job = await stack.waitForState(id, ['COMPLETED'], 90_000);
    await checkS3Job(job);
    const mine = s3.state.requests.slice(before);
    const scriptPath = `/${BUCKET}/${objectKey(id, 'script.json')}`;
    assert.deepEqual(mine.filter((q) => q.path === scriptPath).map((q) => q.status), ['held', 'held', 'held', 200],
        JSON.stringify(mine));
    const logs = await logMessages(id);
    assert.ok(logs.some((m) => /^script failed \(attempt 1 of 3\), trying again in .*S3 did not answer in time/.test(m)),
        logs.join(' | '));
    assert.equal(logs.filter((m) => m === 'script started').length, 2, logs.join(' | '));
}, 120_000);

it('an S3 that refuses writes fails the render with what to fix; retry completes it', async () => {
    await useWorker({ VF_STORE: 's3' });
    const before = s3.state.requests.length;
    const id = await submit('/api/jobs/generate', 'a refused upload about lighthouses');
    // The script is stored; from the render on every write is refused.
    await until('the script is stored', async () => (await stack.getJob(id)).state === 'ASSEMBLING_VIDEO', 60_000, 50);
    s3.refuseWrites(403);
    let failed;
    try {
        failed = await stack.waitForState(id, ['FAILED'], 60_000);
    } finally {
        s3.refuseWrites(0);
    }
    assert.equal(failed.error.step, 'render', JSON.stringify(failed.error));
    assert.match(failed.error.message, new RegExp(`^S3 denied PUT (?:${PREFIX}/)?jobs/${id}/\\S+: give the key s3_access_key `
        + `permission to write to bucket "${BUCKET}"`), failed.error.message);
    assert.ok(s3.state.requests.slice(before).some((q) => q.code === 'AccessDenied'));
    assert.equal(failed.video, null);
    assert.equal(ledgerRowsOf(id), 0);

    const r = await stack.api('POST', `/api/jobs/${id}/retry`, { token: stack.token });
    assert.equal(r.status, 202, r.text);
    const job = await stack.waitForState(id, ['COMPLETED'], 120_000);
    await checkS3Job(job);
    const logs = await logMessages(id);
    assert.equal(logs.filter((m) => m === 'render started').length, 2, logs.join(' | '));
    assert.equal(logs.filter((m) => m === 'finalize started').length, 1, logs.join(' | '));
}, 240_000);
