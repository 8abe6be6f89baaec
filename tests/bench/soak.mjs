// Mixed soak (DESIGN §9): for SOAK_SECONDS, at once
//   - wrk reads GET /api/jobs/:id flat out (SOAK_GET_CONNS connections);
//   - wrk creates jobs at a steady trickle (2 connections, one request
//     every SOAK_CREATE_DELAY_MS each, under nginx's job-creation limit);
//   - SOAK_STREAMS event streams come and go: each stays 1–10 s, on
//     /api/events or one job's stream, half of them resuming with
//     Last-Event-ID, and is replaced when it closes;
// and every SOAK_SAMPLE_S it prints the VmRSS of each vf-api process and of
// vf-sse (and vf-sse's threads). At the end: the requests, errors and
// streams, how far each process's memory grew from the sample after the
// warm-up (SOAK_WARMUP_S) to the last one taken with the load still on, and
// where it settled once the load stopped.
//
// Run through tests/bench/soak.sh, which starts and stops the stack;
// directly: VF_VAR_DIR=<a running stack's folder> node tests/bench/soak.mjs

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openStream } from './sse-client.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);

const SECONDS = num('SOAK_SECONDS', 600);
const SAMPLE_S = num('SOAK_SAMPLE_S', 30);
const WARMUP_S = num('SOAK_WARMUP_S', 60);
const GET_CONNS = num('SOAK_GET_CONNS', 8);
const CREATE_DELAY_MS = num('SOAK_CREATE_DELAY_MS', 200);
const STREAMS = num('SOAK_STREAMS', 40);
// Memory that grew less than this from the warm-up sample to the last sample
// under load (both with the same load running) counts as flat.
const FLAT_KB = num('SOAK_FLAT_KB', 2048);

function readEnvFile(path) {
    const out = {};
    for (const line of readFileSync(path, 'utf8').split('\n')) {
        const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
        if (m) out[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
    }
    return out;
}

const varDir = process.env.VF_VAR_DIR;
const env = readEnvFile(join(varDir, 'stack.env'));
const pidsOf = (name) => readFileSync(join(varDir, 'run', `${name}.pid`), 'utf8').trim().split(/\s+/).map(Number);
const apiPids = pidsOf('api');
const ssePid = pidsOf('sse')[0];

function proc(pid) {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(text)[1]), threads: Number(/Threads:\s+(\d+)/.exec(text)[1]) };
}

async function api(method, path, body) {
    const res = await fetch(env.VF_URL + path, { method, body: body && JSON.stringify(body),
        headers: { authorization: `Bearer ${env.VF_TOKEN}`, 'content-type': 'application/json' } });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
}

function runWrk(name, url, conns, extraEnv) {
    const child = spawn('wrk', ['-t1', `-c${conns}`, `-d${SECONDS}s`, '--timeout', '5s',
        '-s', join(ROOT, 'tests', 'bench', 'wrk-report.lua'), url],
    { env: { ...process.env, WRK_TOKEN: env.VF_TOKEN, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    return new Promise((resolveRun, reject) => {
        child.on('error', reject);
        child.on('exit', (code) => {
            const line = out.split('\n').find((l) => l.startsWith('RESULT '));
            if (code !== 0 || !line) return reject(new Error(`wrk ${name} exited ${code}: ${out}`));
            const r = {};
            for (const kv of line.slice(7).split(' ')) {
                const [k, v] = kv.split('=');
                r[k] = Number(v);
            }
            r.errors = r.connect + r.read + r.write + r.timeout + r.status;
            resolveRun(r);
        });
    });
}

// Keeps STREAMS streams open until the end, each for 1–10 s.
async function churnStreams(jobIds, endMs, counts) {
    let lastId = 0;
    const lane = async (k) => {
        while (Date.now() < endMs) {
            const jobStream = k % 2 === 1;
            let url = `${env.VF_URL}/api/${jobStream ? `jobs/${jobIds[k % jobIds.length]}/` : ''}events`;
            const headers = { authorization: `Bearer ${env.VF_TOKEN}` };
            if (!jobStream && lastId > 0 && counts.opened % 2 === 0) headers['last-event-id'] = String(lastId);
            try {
                const s = await openStream(url, { headers, timeoutMs: 10_000 });
                if (s.status !== 200) {
                    counts.refused[s.status] = (counts.refused[s.status] || 0) + 1;
                    await sleep(1000);
                    continue;
                }
                counts.opened++;
                const stay = Math.min(1000 + Math.random() * 9000, Math.max(0, endMs - Date.now()));
                await Promise.race([sleep(stay), s.whenClosed]);
                if (s.closed && Date.now() < endMs - 100) counts.closedByServer++;
                counts.events += s.events.length;
                for (const ev of s.events) if (ev.id && Number(ev.id) > lastId) lastId = Number(ev.id);
                await s.close();
            } catch (e) {
                counts.failed++;
                counts.lastFailure = e.message;
                await sleep(1000);
            }
        }
    };
    await Promise.all(Array.from({ length: STREAMS }, (_, k) => lane(k)));
}

function sampleLine(t, s) {
    const api = s.api.map((p) => (p.rssKb / 1024).toFixed(1)).join(' / ');
    return `   ${String(Math.round(t)).padStart(5)} s   vf-api ${api} MB   vf-sse ${(s.sse.rssKb / 1024).toFixed(1)} MB ` +
        `(${s.sse.threads} threads)`;
}

async function main() {
    const jobIds = [];
    for (let i = 0; i < 3; i++) jobIds.push((await api('POST', '/api/jobs/generate', { topic: `soak topic ${i}` })).job.id);

    console.log(`== mixed soak: ${SECONDS} s; GET /api/jobs/${jobIds[0]} on ${GET_CONNS} connections, ` +
        `job creation every ${CREATE_DELAY_MS} ms on 2 connections, ${STREAMS} event streams of 1–10 s each; ` +
        `VmRSS every ${SAMPLE_S} s`);
    const t0 = Date.now();
    const endMs = t0 + SECONDS * 1000;
    const counts = { opened: 0, events: 0, refused: {}, failed: 0, closedByServer: 0 };
    const gets = runWrk('get', `${env.VF_URL}/api/jobs/${jobIds[0]}`, GET_CONNS, { WRK_METHOD: 'GET' });
    const creates = runWrk('create', `${env.VF_URL}/api/jobs/generate`, 2, { WRK_METHOD: 'POST',
        WRK_TOPIC_SERIAL: '1', WRK_DELAY_MS: String(CREATE_DELAY_MS),
        WRK_BODY: '{"topic":"soak topic number %d","options":{"duration_s":15,"resolution":720}}' });
    const streams = churnStreams(jobIds, endMs, counts);

    const samples = [];
    const take = () => {
        const s = { t: (Date.now() - t0) / 1000, api: apiPids.map(proc), sse: proc(ssePid) };
        samples.push(s);
        console.log(sampleLine(s.t, s));
    };
    take();
    while (Date.now() < endMs) {
        await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, endMs - Date.now())));
        take();
    }
    const [g, c] = await Promise.all([gets, creates, streams]);
    await sleep(2000);
    take();

    const base = samples.find((s) => s.t >= WARMUP_S) || samples[0];
    const loaded = samples[samples.length - 2] || base;   // the last sample with the load still on
    const last = samples[samples.length - 1];             // after everything stopped
    let flat = true;
    console.log(`   requests: GET ${g.requests} (${g.rps.toFixed(0)}/s, p99 ${g.p99_ms.toFixed(1)} ms, errors ${g.errors}), ` +
        `create ${c.requests} (${c.rps.toFixed(1)}/s, p99 ${c.p99_ms.toFixed(1)} ms, errors ${c.errors})`);
    console.log(`   streams: ${counts.opened} opened and closed, ${counts.events} events received, ` +
        `${counts.closedByServer} closed early by the server, refused ${JSON.stringify(counts.refused)}, ` +
        `failed ${counts.failed}${counts.lastFailure ? ` (last: ${counts.lastFailure})` : ''}`);
    const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;
    const report = (name, a, b, after) => {
        const d = b - a;
        if (d > FLAT_KB) flat = false;
        console.log(`   ${name}: ${mb(a)} at ${Math.round(base.t)} s → ${mb(b)} at ${Math.round(loaded.t)} s ` +
            `(${d >= 0 ? '+' : ''}${d} KB); ${mb(after)} after the load stopped`);
    };
    apiPids.forEach((pid, i) => report(`vf-api pid ${pid}`, base.api[i].rssKb, loaded.api[i].rssKb, last.api[i].rssKb));
    report(`vf-sse pid ${ssePid}`, base.sse.rssKb, loaded.sse.rssKb, last.sse.rssKb);
    const errors = g.errors + c.errors + counts.failed;
    console.log(`   memory flat (no process grew more than ${FLAT_KB} KB under load after warm-up): ${flat ? 'yes' : 'NO'}; ` +
        `errors: ${errors}`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
