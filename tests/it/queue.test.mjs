// The job queue under load: two workers, fifty full-auto jobs. Every job must
// complete with each step run exactly once, one ledger row per job, and every
// worker must have taken part.
//
// The same test is the scale-out check (`make scale`, scripts/scale.sh):
// QUEUE_JOBS (50), QUEUE_WORKERS (2), QUEUE_TTS (the stack's default voice
// when unset; "none" for silent videos), QUEUE_WAIT_MIN (15, minutes for
// every job to complete) and QUEUE_RESULT (a file for the figures as JSON).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startStack, sleep, sha256, ledgerJobIds } from './harness.mjs';

function envCount(name, fallback) {
    const v = process.env[name];
    if (v === undefined || v === '') return fallback;
    if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`${name} must be a positive number, not ${v}`);
    return Number(v);
}

const JOBS = envCount('QUEUE_JOBS', 50);
const WORKERS = envCount('QUEUE_WORKERS', 2);
const TTS = process.env.QUEUE_TTS || '';
const WAIT_MS = envCount('QUEUE_WAIT_MIN', 15) * 60_000;
const FULL_STATES = ['GENERATING_SCRIPT', 'ASSEMBLING_VIDEO', 'FINALIZING', 'COMPLETED'];

let stack;

before(async () => {
    stack = await startStack({
        VF_WORKERS: String(WORKERS),
        VF_WORKER_CONCURRENCY: '1',
        VF_X264_PRESET: 'ultrafast',
        VF_MAX_UNFINISHED_JOBS: String(JOBS * 2),
    });
}, { timeout: 320_000 });

after(async () => {
    if (stack) await stack.stop();
}, { timeout: 130_000 });

const TOPICS = ['why octopuses have three hearts', 'how bees pick a new home', 'the oldest trees on earth',
    'why the sky is blue', 'how volcanoes make islands', 'the life of a raindrop',
    'why cats purr', 'how maps lie about size', 'the speed of a sneeze', 'why ice floats'];

test(`${JOBS} full-auto jobs on ${WORKERS} workers: every step exactly once`, { timeout: WAIT_MS + 240_000 }, async (t) => {
    try {
        await runQueue(t);
    } catch (e) {
        stack?.markFailed();
        throw e;
    }
});

async function runQueue(t) {
    // Both workers announce themselves before the load starts.
    let health;
    const seenBy = Date.now() + 60_000;
    for (;;) {
        health = await stack.api('GET', '/api/health');
        if (health.status === 200 && health.json.workers >= WORKERS) break;
        if (Date.now() > seenBy) assert.fail(`health never showed ${WORKERS} workers: ${health.status} ${health.text}`);
        await sleep(500);
    }
    assert.equal(health.json.workers, WORKERS, `workers seen: ${health.text}`);

    const ids = [];
    const options = { duration_s: 15, resolution: 720 };
    if (TTS) options.tts = TTS;
    const started = Date.now();
    for (let k = 0; k < JOBS; k++) {
        const topic = `${TOPICS[k % TOPICS.length]} (${k + 1})`;
        let r;
        // nginx's job-creation limit (burst 100, then 20 a second per address)
        // slows a long run down: wait and send again, as a client should.
        for (;;) {
            r = await stack.api('POST', '/api/jobs/generate', { token: stack.token, body: { topic, options } });
            if (r.status !== 429 || r.json?.error?.code !== 'rate_limited') break;
            await sleep(100);
        }
        assert.equal(r.status, 202, `job ${k + 1}: ${r.status} ${r.text}`);
        ids.push(r.json.job.id);
    }
    assert.equal(new Set(ids).size, JOBS, 'distinct job ids');
    const idList = ids.join(',');

    // Wait, watching who holds leases: the only record of which worker ran a step.
    const leaseOwners = new Set();
    const deadline = Date.now() + WAIT_MS;
    let counts = {};
    for (;;) {
        const rows = await stack.sql(`SELECT state, COUNT(*) FROM jobs WHERE id IN (${idList}) GROUP BY state`);
        counts = Object.fromEntries(rows.map((r) => [r[0], Number(r[1])]));
        for (const r of await stack.sql(`SELECT DISTINCT lease_owner FROM jobs WHERE lease_owner IS NOT NULL`)) {
            leaseOwners.add(r[0]);
        }
        if (counts.FAILED || counts.CANCELLED) {
            const bad = await stack.sql(`SELECT id FROM jobs WHERE id IN (${idList}) AND state IN ('FAILED','CANCELLED')`);
            const job = await stack.getJob(Number(bad[0][0]));
            assert.fail(`${counts.FAILED || 0} failed, ${counts.CANCELLED || 0} cancelled; first: ${JSON.stringify(job)}`);
        }
        if (counts.COMPLETED === JOBS) break;
        if (Date.now() > deadline) assert.fail(`not all COMPLETED after ${WAIT_MS} ms: ${JSON.stringify(counts)}`);
        await sleep(1000);
    }

    const wallS = (Date.now() - started) / 1000;

    // The API agrees, page by page.
    const listed = [];
    for (let before = null; ;) {
        const list = await stack.api('GET', `/api/jobs?limit=100&state=COMPLETED${before ? `&before=${before}` : ''}`,
            { token: stack.token });
        assert.equal(list.status, 200, list.text);
        listed.push(...list.json.jobs.map((j) => j.id));
        before = list.json.next_before;
        if (!before) break;
    }
    assert.deepEqual(listed.sort((a, b) => a - b), [...ids].sort((a, b) => a - b));

    // Each step started exactly once per job.
    const stepStarts = await stack.sql(`SELECT job_id, SUBSTRING_INDEX(message, ' ', 2), COUNT(*) FROM job_events
        WHERE job_id IN (${idList}) AND type = 'log'
          AND (message LIKE 'script started%' OR message LIKE 'render started%' OR message LIKE 'finalize started%')
        GROUP BY job_id, SUBSTRING_INDEX(message, ' ', 2)`);
    const problems = [];
    for (const id of ids) {
        for (const step of ['script', 'render', 'finalize']) {
            const row = stepStarts.find((r) => Number(r[0]) === id && r[1].startsWith(`${step} started`));
            const n = row ? Number(row[2]) : 0;
            if (n !== 1) problems.push(`job ${id}: '${step} started' ${n} times`);
        }
    }

    // Each state of the mode once, in order.
    const stateRows = await stack.sql(`SELECT job_id, state FROM job_events
        WHERE job_id IN (${idList}) AND type = 'state' ORDER BY job_id, id`);
    for (const id of ids) {
        let states = stateRows.filter((r) => Number(r[0]) === id).map((r) => r[1]);
        if (states[0] === 'IDLE') states = states.slice(1);
        if (JSON.stringify(states) !== JSON.stringify(FULL_STATES)) problems.push(`job ${id}: states ${states}`);
    }

    // The stored files match what the jobs say, and nothing ran twice behind the scenes.
    const meta = await stack.sql(`SELECT id, video_size_bytes, video_sha256 FROM jobs WHERE id IN (${idList})`);
    for (const [id, size, sum] of meta) {
        const file = stack.jobFile(id, 'video.mp4');
        try {
            if (statSync(file).size !== Number(size)) problems.push(`job ${id}: ${file} size differs from the row`);
            else if (sha256(readFileSync(file)) !== sum) problems.push(`job ${id}: ${file} sha256 differs`);
        } catch (e) {
            problems.push(`job ${id}: ${e.message}`);
        }
    }
    assert.deepEqual(problems, [], `${problems.length} problems`);

    // One ledger row per job, no duplicates, nothing else.
    const ledger = ledgerJobIds(readFileSync(stack.csvPath(), 'utf8'));
    assert.equal(ledger.length, JOBS, `ledger rows: ${ledger.length}`);
    assert.equal(new Set(ledger).size, JOBS, 'distinct job ids in the ledger');
    assert.deepEqual([...ledger].map(Number).sort((a, b) => a - b), [...ids].sort((a, b) => a - b));

    // Both workers worked. A lease owner names its worker; map owners to the
    // announced worker names when they are prefixes of them.
    const workers = (await stack.sql('SELECT name FROM workers')).map((r) => r[0]);
    const owners = [...leaseOwners];
    const matched = workers.filter((w) => owners.some((o) => o === w || o.startsWith(w)));
    t.diagnostic(`workers ${JSON.stringify(workers)}; lease owners seen ${JSON.stringify(owners)}`);
    // When owners do not name announced workers, one job per worker makes
    // distinct owners distinct workers.
    const workersSeen = matched.length > 0 ? matched.length : owners.length;
    const figures = { jobs: JOBS, workers: WORKERS, tts: TTS || 'default', wall_s: Number(wallS.toFixed(1)),
        jobs_per_minute: Number((JOBS / wallS * 60).toFixed(1)), workers_seen: workersSeen,
        steps_exactly_once: problems.length === 0, ledger_rows: ledger.length, load_average: loadavg() };
    t.diagnostic(`figures ${JSON.stringify(figures)}`);
    if (process.env.QUEUE_RESULT) writeFileSync(process.env.QUEUE_RESULT, `${JSON.stringify(figures, null, 2)}\n`);
    assert.ok(workersSeen >= WORKERS, `every worker held leases: workers ${workers}, owners seen ${owners}`);
}
