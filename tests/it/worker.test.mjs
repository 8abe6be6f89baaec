// The worker under faults: a cancel while a video renders, SIGTERM mid-render
// (the step is handed back and another worker finishes it), and kill -9
// mid-render (the lease expires, the job is reclaimed and completes with one
// video and one ledger row).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, sleep, sha256, ledgerJobIds, waitGone } from './harness.mjs';

let stack;

before(async () => {
    // A short lease so a killed worker's job is reclaimed within seconds.
    stack = await startStack({ VF_X264_PRESET: 'ultrafast', VF_LEASE_S: '6' });
}, { timeout: 320_000 });

after(async () => {
    if (stack) await stack.stop();
}, { timeout: 130_000 });

// A job long enough to be caught mid-render: 60 s at 1080x1920.
async function startLongJob(topic) {
    const r = await stack.api('POST', '/api/jobs/generate',
        { token: stack.token, body: { topic, options: { duration_s: 60, resolution: 1080 } } });
    assert.equal(r.status, 202, r.text);
    return r.json.job.id;
}

async function waitRendering(id) {
    const deadline = Date.now() + 120_000;
    for (;;) {
        const job = await stack.getJob(id);
        if (job.state === 'ASSEMBLING_VIDEO' && job.progress.step === 'render' && job.progress.percent >= 5) return job;
        assert.ok(!['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.state), `job ended early: ${JSON.stringify(job)}`);
        assert.ok(Date.now() < deadline, `job never got to render: ${JSON.stringify(job)}`);
        await sleep(100);
    }
}

async function logMessages(id) {
    return (await stack.sql(`SELECT message FROM job_events WHERE job_id = ${id} AND type = 'log' ORDER BY id`))
        .map((r) => r[0]);
}

test('a cancel stops a render and the job ends CANCELLED with no video', { timeout: 240_000 }, stack_wrap(async () => {
    const id = await startLongJob('a cancelled render about glaciers');
    await waitRendering(id);
    const r = await stack.api('POST', `/api/jobs/${id}/cancel`, { token: stack.token });
    assert.equal(r.status, 202, r.text);
    const job = await stack.waitForState(id, ['CANCELLED'], 60_000);
    assert.equal(job.video, null);
    const logs = await logMessages(id);
    assert.ok(logs.includes('cancel requested'), logs.join(' | '));
    assert.ok(!existsSync(stack.jobFile(id, 'video.mp4')), 'a cancelled render stored a video');
    // A cancelled job cannot be cancelled again.
    const again = await stack.api('POST', `/api/jobs/${id}/cancel`, { token: stack.token });
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'wrong_state');
}));

test('SIGTERM mid-render hands the step back; another worker completes it', { timeout: 300_000 }, stack_wrap(async () => {
    const id = await startLongJob('a handed back render about comets');
    await waitRendering(id);
    const [pid] = stack.workerPids();
    assert.ok(pid, 'no worker running');
    process.kill(pid, 'SIGTERM');
    assert.ok(await waitGone(pid, 15_000), 'the worker did not exit within 15 s of SIGTERM');
    // Handed back at once: no lease, the step waits for a worker.
    const held = await stack.sqlValue(`SELECT COALESCE(lease_owner, '') FROM jobs WHERE id = ${id}`);
    assert.equal(held, '', 'the stopped worker still holds the lease');
    const logs = await logMessages(id);
    assert.ok(logs.some((m) => /handed back to the queue/.test(m)), logs.join(' | '));
    stack.startWorker();
    const job = await stack.waitForState(id, ['COMPLETED'], 240_000);
    await checkOneVideoOneRow(id, job);
    const renders = (await logMessages(id)).filter((m) => m === 'render started').length;
    assert.equal(renders, 2, 'the render should have started twice: once stopped, once finished');
}));

test('kill -9 mid-render: the lease expires, the job is reclaimed and completes once', { timeout: 300_000 }, stack_wrap(async () => {
    const id = await startLongJob('a reclaimed render about tides');
    await waitRendering(id);
    const [pid] = stack.workerPids();
    assert.ok(pid, 'no worker running');
    const owner = await stack.sqlValue(`SELECT lease_owner FROM jobs WHERE id = ${id}`);
    assert.ok(owner && owner !== 'NULL', 'the job has no lease while rendering');
    process.kill(pid, 'SIGKILL');
    assert.ok(await waitGone(pid, 5_000));
    // The dead worker's lease stays until it expires; a new worker reclaims it.
    stack.startWorker();
    const job = await stack.waitForState(id, ['COMPLETED'], 240_000);
    await checkOneVideoOneRow(id, job);
    const logs = await logMessages(id);
    assert.ok(logs.some((m) => /stopped answering/.test(m)), logs.join(' | '));
    assert.equal(logs.filter((m) => m === 'render started').length, 2, logs.join(' | '));
    assert.equal(logs.filter((m) => m === 'finalize started').length, 1, logs.join(' | '));
}));

async function checkOneVideoOneRow(id, job) {
    assert.ok(job.video, 'no video on the completed job');
    const bytes = readFileSync(stack.jobFile(id, 'video.mp4'));
    assert.equal(sha256(bytes), job.video.sha256, 'the stored video is not the one the job describes');
    const dir = join(stack.storeDir(), 'jobs', String(id));
    const leftovers = readdirSync(dir).filter((n) => n.includes('.tmp'));
    assert.deepEqual(leftovers, [], 'temporary files left in the store');
    const rows = ledgerJobIds(readFileSync(stack.csvPath(), 'utf8')).filter((x) => Number(x) === id);
    assert.equal(rows.length, 1, `ledger rows for job ${id}: ${rows.length}`);
}

function stack_wrap(fn) {
    return async () => {
        try {
            await fn();
        } catch (e) {
            stack?.markFailed();
            throw e;
        }
    };
}
