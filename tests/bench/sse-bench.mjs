// Event fan-out benchmark (DESIGN §8, target in §9): N streams follow one
// user's jobs through nginx while job_events rows are written at a steady
// rate, for each N of SSE_BENCH_N. For each N it prints
//   - latency from each row's `at` (the database's clock when the row was
//     written) to its arrival at each client: p50, p99, max;
//   - vf-sse's database queries per second during the writing window;
//   - vf-sse's memory per stream: VmRSS with the N streams open minus
//     VmRSS before they opened, divided by N; and its thread count.
//
// Counting vf-sse's queries: every query of our programs is a prepared
// statement (app/db/db.c), counted by the server in Com_stmt_execute. The
// bench stack runs no vf-worker (VF_WORKERS=0) and nobody calls vf-api
// during the window, so the delta of Com_stmt_execute is vf-sse's queries
// alone; this script's own SQL goes over the text protocol (Com_insert,
// Com_show_status) and is not in it.
//
// Run it through tests/bench/sse.sh, which starts and stops the stack;
// directly: VF_VAR_DIR=<a running stack's folder> node tests/bench/sse-bench.mjs
// Knobs: SSE_BENCH_N (10,100,1000), SSE_BENCH_RATE (rows per second, 5),
// SSE_BENCH_SECONDS (writing window per N, 20), SSE_BENCH_JSON (file for
// the figures as JSON).

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';

import { openMany, percentile } from './sse-client.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readEnvFile(path) {
    const out = {};
    for (const line of readFileSync(path, 'utf8').split('\n')) {
        const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
        if (!m) continue;
        // printf %q quoting of plain values: strip simple single quotes.
        out[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
    }
    return out;
}

class Bench {
    constructor(varDir) {
        this.varDir = varDir;
        this.env = readEnvFile(join(varDir, 'stack.env'));
        this.url = this.env.VF_URL;
        this.dbSocket = this.env.VF_DB_SOCKET;
        this.build = resolve(ROOT, process.env.VF_BUILD_DIR || 'build');
        this.ssePid = Number(readFileSync(join(varDir, 'run', 'sse.pid'), 'utf8').trim().split(/\s+/)[0]);
    }

    sqlArgs() {
        return ['--no-defaults', '--protocol=socket', `--socket=${this.dbSocket}`, '-u', 'root', '-N', '-B', 'vf'];
    }

    sql(query) {
        const r = spawnSync('mariadb', [...this.sqlArgs(), '-e', query], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`sql failed: ${query}\n${r.stderr}`);
        return r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
    }

    status() {
        const rows = this.sql("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_execute','Questions')");
        const out = { ms: Date.now() };
        for (const [k, v] of rows) out[k] = Number(v);
        return out;
    }

    proc() {
        const text = readFileSync(`/proc/${this.ssePid}/status`, 'utf8');
        const kb = Number(/VmRSS:\s+(\d+)/.exec(text)[1]);
        const threads = Number(/Threads:\s+(\d+)/.exec(text)[1]);
        return { rssKb: kb, threads };
    }

    vfctl(args, input = '') {
        const r = spawnSync(join(this.build, 'vfctl'), args, { input, encoding: 'utf8',
            env: { ...process.env, VF_CONFIG: this.env.VF_CONFIG } });
        if (r.status !== 0) throw new Error(`vfctl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
        return r.stdout.trim();
    }

    async api(method, path, token, body) {
        const res = await fetch(this.url + path, { method, body: body && JSON.stringify(body),
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
        const json = await res.json();
        if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
        return json;
    }

    // A plain user with a token and a few jobs to follow, and one job of the
    // stack's admin whose events the bench streams must not see.
    async setup() {
        const name = `bench${process.pid}`;
        this.vfctl(['user', 'add', name], 'bench-password-1\n');
        this.token = this.vfctl(['token', 'create', name, '--label', 'bench']).split(/\s+/).pop();
        this.userId = Number(this.sql(`SELECT id FROM users WHERE username='${name}'`)[0][0]);
        this.jobs = [];
        for (let i = 0; i < 3; i++) {
            const r = await this.api('POST', '/api/jobs/generate', this.token, { topic: `bench topic ${i}` });
            this.jobs.push(r.job.id);
        }
        const other = await this.api('POST', '/api/jobs/generate', this.env.VF_TOKEN, { topic: 'not followed' });
        this.otherJob = other.job.id;
        this.adminId = Number(this.sql(`SELECT owner_id FROM jobs WHERE id=${this.otherJob}`)[0][0]);
    }

    // Writes `total` state rows, one every 1000/rate ms, through one client
    // session; every third row belongs to the other user's job. Resolves
    // when the last one is in.
    writeRows(total, rate) {
        const states = ['GENERATING_SCRIPT', 'ASSEMBLING_VIDEO', 'FINALIZING', 'COMPLETED'];
        const steps = ['script', 'render', 'finalize', null];
        const child = spawn('mariadb', this.sqlArgs(), { stdio: ['pipe', 'ignore', 'inherit'] });
        let followed = 0;
        return new Promise((resolveDone, reject) => {
            child.on('error', reject);
            child.on('exit', (code) => (code === 0 ? resolveDone(followed)
                : reject(new Error(`mariadb inserter exited ${code}`))));
            let i = 0;
            const started = Date.now();
            const tick = () => {
                if (i >= total) { child.stdin.end(); return; }
                const mine = i % 3 !== 2;
                const job = mine ? this.jobs[i % this.jobs.length] : this.otherJob;
                const owner = mine ? this.userId : this.adminId;
                const k = i % states.length;
                child.stdin.write(`INSERT INTO job_events (job_id, owner_id, type, state, step) VALUES `
                    + `(${job}, ${owner}, 'state', '${states[k]}', ${steps[k] ? `'${steps[k]}'` : 'NULL'});\n`);
                if (mine) followed++;
                i++;
                // Keep to the schedule rather than drifting with timer lateness.
                setTimeout(tick, Math.max(0, started + (i * 1000) / rate - Date.now()));
            };
            tick();
        });
    }

    async round(n, rate, seconds) {
        const before = this.proc();
        const firstId = Number(this.sql('SELECT COALESCE(MAX(id),0) FROM job_events')[0][0]);
        const latencies = [];
        const perEvent = new Map();     // id -> latest arrival - at
        const onEvent = (ev) => {
            const id = Number(ev.id);
            if (id <= firstId) return;
            const at = Date.parse(JSON.parse(ev.data).at);
            const lat = ev.arrivedMs - at;
            latencies.push(lat);
            perEvent.set(id, Math.max(perEvent.get(id) ?? -Infinity, lat));
        };
        const t0 = Date.now();
        const streams = await openMany(n, `${this.url}/api/events`,
            { headers: { authorization: `Bearer ${this.token}` }, onEvent }, 50);
        const openMs = Date.now() - t0;
        await sleep(1500);
        const open = this.proc();
        const s0 = this.status();
        const followed = await this.writeRows(Math.round(rate * seconds), rate);
        // The last row needs a poll interval and the fan-out to arrive.
        const want = n * followed;
        for (let waited = 0; waited < 5000 && latencies.length < want; waited += 100) await sleep(100);
        const s1 = this.status();
        const during = this.proc();
        const closedEarly = streams.filter((s) => s.closed).length;
        await Promise.all(streams.map((s) => s.close()));
        await sleep(2500);
        const after = this.proc();

        // Every stream must have every followed row, in order, and nothing else.
        let missing = 0, foreign = 0, disorder = 0;
        const followedIds = new Set();
        for (const s of streams) {
            let last = 0, got = 0;
            for (const ev of s.events) {
                const id = Number(ev.id);
                if (id <= firstId) continue;
                if (Number(JSON.parse(ev.data).job_id) === this.otherJob) foreign++;
                if (id <= last) disorder++;
                last = id;
                got++;
                followedIds.add(id);
            }
            missing += followed - got;
        }
        latencies.sort((a, b) => a - b);
        const reachAll = [...perEvent.values()].sort((a, b) => a - b);
        const windowS = (s1.ms - s0.ms) / 1000;
        return {
            n, rate, seconds, rows_followed: followed, deliveries: latencies.length,
            open_ms: openMs,
            latency_ms: { p50: percentile(latencies, 50), p99: percentile(latencies, 99),
                max: latencies[latencies.length - 1] },
            reach_all_ms: { p50: percentile(reachAll, 50), p99: percentile(reachAll, 99) },
            db_queries_per_s: (s1.Com_stmt_execute - s0.Com_stmt_execute) / windowS,
            db_questions_per_s: (s1.Questions - s0.Questions) / windowS,
            rss_kb: { before: before.rssKb, open: open.rssKb, during: during.rssKb, after: after.rssKb },
            kb_per_stream: (open.rssKb - before.rssKb) / n,
            threads: { before: before.threads, open: open.threads, after: after.threads },
            missing, foreign, disorder, closed_early: closedEarly,
        };
    }
}

function fmt(r) {
    const f = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
    return [
        String(r.n).padStart(5),
        `p50 ${f(r.latency_ms.p50).padStart(4)} ms`,
        `p99 ${f(r.latency_ms.p99).padStart(4)} ms`,
        `max ${f(r.latency_ms.max).padStart(4)} ms`,
        `all-reached p99 ${f(r.reach_all_ms.p99).padStart(4)} ms`,
        `${r.db_queries_per_s.toFixed(2).padStart(5)} queries/s`,
        `${(r.kb_per_stream).toFixed(1).padStart(5)} KB/stream`,
        `RSS ${(r.rss_kb.before / 1024).toFixed(1)}→${(r.rss_kb.open / 1024).toFixed(1)}→${(r.rss_kb.after / 1024).toFixed(1)} MB`,
        `threads ${r.threads.before}/${r.threads.open}/${r.threads.after}`,
        r.missing || r.foreign || r.disorder || r.closed_early
            ? `PROBLEM missing=${r.missing} foreign=${r.foreign} disorder=${r.disorder} closed=${r.closed_early}` : 'all delivered',
    ].join('  ');
}

async function main() {
    const varDir = process.env.VF_VAR_DIR;
    if (!varDir) throw new Error('VF_VAR_DIR must name a running stack (tests/bench/sse.sh does this)');
    const ns = (process.env.SSE_BENCH_N || '10,100,1000').split(',').map(Number);
    const rate = Number(process.env.SSE_BENCH_RATE || 5);
    const seconds = Number(process.env.SSE_BENCH_SECONDS || 20);
    const bench = new Bench(varDir);
    await bench.setup();
    console.log(`sse bench: ${rate} rows/s for ${seconds} s per round (2 of 3 followed), `
        + `vf-sse pid ${bench.ssePid}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const results = [];
    let bad = false;
    for (const n of ns) {
        const r = await bench.round(n, rate, seconds);
        results.push(r);
        console.log(fmt(r));
        if (r.missing || r.foreign || r.disorder || r.closed_early) bad = true;
    }
    console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    if (process.env.SSE_BENCH_JSON) writeFileSync(process.env.SSE_BENCH_JSON, JSON.stringify(results, null, 2));
    process.exitCode = bad ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    main().catch((e) => { console.error(`sse bench: ${e.stack || e}`); process.exit(1); });
}
