// Integration test harness: starts a real local stack (MariaDB, nginx,
// vf-api, vf-sse, vf-worker) in a fresh temporary folder with
// scripts/stack.sh, and gives the tests small helpers to talk to it.
//
// Environment: VF_BUILD_DIR names the build folder (default "build");
// VF_IT_KEEP=1 keeps the stack folder even when every test passed.

import { test } from 'node:test';
import { spawn, spawnSync, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, openSync, closeSync,
    writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD_DIR = resolve(ROOT, process.env.VF_BUILD_DIR || 'build');
const STACK_SH = join(ROOT, 'scripts', 'stack.sh');

export const TERMINAL_STATES = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

// The tests' `it`: a node:test test that, when it fails, keeps the stack's
// folder and prints its logs (getStack() returns the stack, once started).
export function stackTest(getStack, defaultTimeout) {
    return (name, fn, timeout = defaultTimeout) => test(name, { timeout }, async (t) => {
        try {
            await fn(t);
        } catch (e) {
            getStack()?.markFailed();
            throw e;
        }
    });
}

// Resolves true once process pid has exited, false if it is still there after ms.
export async function waitGone(pid, ms) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        try { process.kill(pid, 0); } catch { return true; }
        await sleep(100);
    }
    return false;
}

export function sha256(buf) {
    return createHash('sha256').update(buf).digest('hex');
}

// `export K=V` lines; V may be single-quoted (with '\'' for a quote) or
// double-quoted, or bare.
export function parseEnvFile(text) {
    const out = {};
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
        if (!m) continue;
        out[m[1]] = unquoteShell(m[2]);
    }
    return out;
}

function unquoteShell(v) {
    let out = '';
    let i = 0;
    while (i < v.length) {
        const c = v[i];
        if (c === "'") {
            const end = v.indexOf("'", i + 1);
            if (end < 0) throw new Error(`unterminated quote in ${v}`);
            out += v.slice(i + 1, end);
            i = end + 1;
        } else if (c === '"') {
            let j = i + 1;
            while (j < v.length && v[j] !== '"') {
                if (v[j] === '\\' && j + 1 < v.length) j++;
                out += v[j];
                j++;
            }
            i = j + 1;
        } else if (c === '\\' && i + 1 < v.length) {
            out += v[i + 1];
            i += 2;
        } else {
            out += c;
            i++;
        }
    }
    return out;
}

// vf.conf: `key = value` lines with # comments.
export function parseConfig(text) {
    const out = {};
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const eq = line.indexOf('=');
        if (eq < 0) continue;
        out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    return out;
}

// A small RFC 4180 reader (quoted fields may hold commas, quotes, newlines).
export function parseCsv(text) {
    const rows = [];
    let row = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (quoted) {
            if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
            else if (c === '"') quoted = false;
            else field += c;
        } else if (c === '"') quoted = true;
        else if (c === ',') { row.push(field); field = ''; }
        else if (c === '\n' || c === '\r') {
            if (c === '\r' && text[i + 1] === '\n') i++;
            row.push(field); rows.push(row); row = []; field = '';
        } else field += c;
    }
    if (field !== '' || row.length) { row.push(field); rows.push(row); }
    return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

// Ledger rows and the column that holds the job id: a header column named
// job_id / id when there is a header, else the first column.
export function ledgerJobIds(text) {
    const rows = parseCsv(text);
    if (!rows.length) return [];
    const header = rows[0].map((h) => h.trim().toLowerCase());
    let col = header.findIndex((h) => h === 'job_id' || h === 'job id' || h === 'id');
    let body = rows;
    if (col >= 0) body = rows.slice(1);
    else if (!/^\d+$/.test(rows[0][0])) { col = 0; body = rows.slice(1); }
    else col = 0;
    return body.map((r) => r[col]);
}

// Words of a text, lower case, letters and digits only.
export function words(text) {
    return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []);
}

// Caption text of an SRT or VTT file (cue lines only; tags removed).
export function captionText(text) {
    const lines = [];
    for (const raw of text.split(/\r?\n/)) {
        const line = raw.trim();
        if (!line || /^\d+$/.test(line) || line.includes('-->') || line === 'WEBVTT'
            || /^(NOTE|STYLE|REGION)\b/.test(line)) continue;
        lines.push(line.replace(/<[^>]*>/g, ' ').replace(/\{[^}]*\}/g, ' '));
    }
    return lines.join(' ');
}

// End of the last cue in seconds (SRT "00:00:14,320" or VTT "00:14.320").
export function lastCueEnd(text) {
    let end = 0;
    const re = /-->\s*((?:\d+:)?\d+:\d+[.,]\d+)/g;
    let m;
    while ((m = re.exec(text))) {
        const parts = m[1].replace(',', '.').split(':').map(Number);
        let s = 0;
        for (const p of parts) s = s * 60 + p;
        end = Math.max(end, s);
    }
    return end;
}

export async function ffprobe(path) {
    const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-print_format', 'json',
        '-show_streams', '-show_format', path], { maxBuffer: 16 << 20 });
    return JSON.parse(stdout);
}

function tailFile(path, lines) {
    try {
        const all = readFileSync(path, 'utf8').split('\n');
        return all.slice(-lines).join('\n');
    } catch (e) {
        return `(cannot read ${path}: ${e.message})`;
    }
}

// Starts a stack. overrides: extra VF_* variables for every program of it.
export async function startStack(overrides = {}, { timeoutMs = 300_000 } = {}) {
    const varDir = mkdtempSync(join(tmpdir(), 'vf-it-'));
    const env = { ...process.env, VF_BUILD_DIR: BUILD_DIR, ...overrides, VF_VAR_DIR: varDir };
    const stack = new Stack(varDir, env);
    stack.installExitHook();
    try {
        await stack.run(['up'], timeoutMs);
        stack.loadEnv();
    } catch (e) {
        stack.failed = true;
        await stack.stop();
        throw e;
    }
    return stack;
}

class Stack {
    constructor(varDir, env) {
        this.varDir = varDir;
        this.env = env;
        this.failed = false;
        this.stopped = false;
        this.sqlAuth = null;
        this.extraWorkers = 0;
    }

    run(args, timeoutMs) {
        return new Promise((resolveRun, reject) => {
            const child = spawn(STACK_SH, args, { cwd: ROOT, env: this.env,
                stdio: ['ignore', 'pipe', 'pipe'] });
            let output = '';
            child.stdout.on('data', (d) => { output += d; });
            child.stderr.on('data', (d) => { output += d; });
            const timer = setTimeout(() => {
                child.kill('SIGTERM');
                reject(new Error(`stack.sh ${args.join(' ')} timed out after ${timeoutMs} ms\n${output}`));
            }, timeoutMs);
            child.on('error', (e) => { clearTimeout(timer); reject(e); });
            child.on('exit', (code, signal) => {
                clearTimeout(timer);
                if (code === 0) resolveRun(output);
                else reject(new Error(`stack.sh ${args.join(' ')} exited ${code ?? signal}\n${output}`));
            });
        });
    }

    loadEnv() {
        const envFile = join(this.varDir, 'stack.env');
        const e = parseEnvFile(readFileSync(envFile, 'utf8'));
        for (const k of ['VF_URL', 'VF_USER', 'VF_PASSWORD', 'VF_TOKEN', 'VF_CONFIG', 'VF_DB_SOCKET']) {
            if (!e[k]) throw new Error(`${envFile} lacks ${k}`);
        }
        this.stackEnv = e;
        this.url = e.VF_URL.replace(/\/+$/, '');
        this.user = e.VF_USER;
        this.password = e.VF_PASSWORD;
        this.token = e.VF_TOKEN;
        this.configPath = e.VF_CONFIG;
        this.dbSocket = e.VF_DB_SOCKET;
        this.config = parseConfig(readFileSync(this.configPath, 'utf8'));
        this.env.VF_CONFIG = this.configPath;
    }

    // A setting as the programs see it: a VF_* override wins over vf.conf.
    setting(key, fallback) {
        const envKey = 'VF_' + key.toUpperCase();
        if (this.env[envKey] !== undefined) return this.env[envKey];
        if (this.config[key] !== undefined) return this.config[key];
        return fallback;
    }

    storeDir() {
        return this.setting('local_store_dir', join(this.varDir, 'store'));
    }

    jobFile(id, name) {
        return join(this.storeDir(), 'jobs', String(id), name);
    }

    csvPath() {
        const p = this.setting('csv_path', null);
        if (p) return p;
        // No path configured: look for the one CSV the stack writes under var/.
        const found = [];
        const walk = (d, depth) => {
            if (depth > 3) return;
            for (const ent of readdirSync(d, { withFileTypes: true })) {
                if (ent.name === 'mysql') continue;
                const p2 = join(d, ent.name);
                if (ent.isDirectory()) walk(p2, depth + 1);
                else if (ent.name.endsWith('.csv')) found.push(p2);
            }
        };
        walk(this.varDir, 0);
        if (found.length !== 1) throw new Error(`csv_path not set and ${found.length} CSV files under ${this.varDir}`);
        return found[0];
    }

    // Fails the stack: stop() then keeps the folder and prints the logs.
    markFailed() {
        this.failed = true;
    }

    // Wraps a test body so a failure keeps the stack folder for debugging.
    wrap(fn) {
        return async (t) => {
            try {
                return await fn(t);
            } catch (e) {
                this.failed = true;
                throw e;
            }
        };
    }

    async api(method, path, { body, token, cookie, headers = {}, raw } = {}) {
        const h = { ...headers };
        if (token) h.authorization = `Bearer ${token}`;
        if (cookie) h.cookie = cookie;
        let payload;
        if (raw !== undefined) {
            payload = raw;
        } else if (body !== undefined) {
            payload = typeof body === 'string' ? body : JSON.stringify(body);
            if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) {
                h['content-type'] = 'application/json';
            }
        }
        const res = await fetch(this.url + path, { method, headers: h, body: payload,
            redirect: 'manual' });
        const buf = Buffer.from(await res.arrayBuffer());
        const text = buf.toString('utf8');
        let json = null;
        const ctype = res.headers.get('content-type') || '';
        if (ctype.includes('json')) {
            try { json = JSON.parse(text); } catch { json = null; }
        }
        return { status: res.status, headers: res.headers, json, text, bytes: buf };
    }

    // Logs in; returns the Cookie header value "vf_session=…" and the raw Set-Cookie.
    async login(user, password) {
        const r = await this.api('POST', '/api/auth/login', { body: { username: user, password } });
        if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${r.text}`);
        const setCookie = r.headers.get('set-cookie') || '';
        const m = /(?:^|,\s*)(vf_session=[^;]*)/.exec(setCookie);
        if (!m) throw new Error(`login ${user}: no vf_session cookie in ${setCookie}`);
        return m[1];
    }

    ffprobe(path) {
        return ffprobe(path);
    }

    async getJob(id, token = this.token) {
        const r = await this.api('GET', `/api/jobs/${id}`, { token });
        if (r.status !== 200) throw new Error(`GET /api/jobs/${id}: ${r.status} ${r.text}`);
        return r.json.job;
    }

    // Polls until the job is in one of states; throws with the job JSON on a
    // timeout or when it reaches a terminal state that was not asked for.
    async waitForState(jobId, states, timeoutMs = 120_000, token = this.token) {
        const deadline = Date.now() + timeoutMs;
        let job = null;
        for (;;) {
            job = await this.getJob(jobId, token);
            if (states.includes(job.state)) return job;
            if (TERMINAL_STATES.includes(job.state)) {
                throw new Error(`job ${jobId} reached ${job.state}, expected ${states.join('|')}: `
                    + JSON.stringify(job));
            }
            if (Date.now() > deadline) {
                throw new Error(`job ${jobId} not in ${states.join('|')} after ${timeoutMs} ms: `
                    + JSON.stringify(job));
            }
            await sleep(250);
        }
    }

    // Runs a query in the stack's database; returns rows of strings
    // (NULL stays the string "NULL").
    async sql(query) {
        const attempts = this.sqlAuth ? [this.sqlAuth] : ['root', 'vf'];
        let lastErr;
        for (const who of attempts) {
            const args = ['--no-defaults', '--protocol=socket', `--socket=${this.dbSocket}`, '-N', '-B'];
            const env = { ...process.env };
            if (who === 'root') args.push('-u', 'root');
            else {
                args.push('-u', this.config.db_user || 'vf');
                env.MYSQL_PWD = this.config.db_password || '';
            }
            args.push(this.config.db_name || 'vf', '-e', query);
            try {
                const { stdout } = await execFileP('mariadb', args, { env, maxBuffer: 64 << 20 });
                this.sqlAuth = who;
                if (stdout === '') return [];
                // One line per row; a row of one empty string is an empty line.
                return stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
            } catch (e) {
                lastErr = e;
                if (!/Access denied/i.test(String(e.stderr))) break;
            }
        }
        throw new Error(`sql failed: ${query}\n${lastErr.stderr || lastErr.message}`);
    }

    async sqlValue(query) {
        const rows = await this.sql(query);
        return rows.length ? rows[0][0] : null;
    }

    vfctl(args, input) {
        const r = spawnSync(join(BUILD_DIR, 'vfctl'), args, { env: this.env, input: input ?? '',
            encoding: 'utf8', timeout: 60_000 });
        if (r.status !== 0) {
            throw new Error(`vfctl ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}${r.stdout}`);
        }
        return r.stdout;
    }

    addUser(name, password, role = 'user') {
        const args = ['user', 'add', name];
        if (role !== 'user') args.push('--role', role);
        return this.vfctl(args, password + '\n');
    }

    createToken(name, label) {
        const args = ['token', 'create', name];
        if (label) args.push('--label', label);
        const out = this.vfctl(args).trim().split('\n');
        return out[out.length - 1].trim();
    }

    // Starts one more vf-worker with the stack's config plus env; returns its
    // pid. Like the stack's own workers its pid file is in run/ (so `stack.sh
    // down` stops it) and its output goes to log/ (so a sanitizer report in it
    // fails the stack at stop()).
    // The pids of the stack's vf-worker daemons (its own and startWorker's) still running.
    workerPids() {
        const run = join(this.varDir, 'run');
        return readdirSync(run).filter((n) => /^worker-\d+\.pid$/.test(n))
            .map((n) => Number(readFileSync(join(run, n), 'utf8').trim()))
            .filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } });
    }

    startWorker(env = {}) {
        this.extraWorkers += 1;
        const n = 100 + this.extraWorkers;
        const log = join(this.varDir, 'log', `worker-${n}.log`);
        const out = openSync(log, 'a');
        let child;
        try {
            child = spawn(join(BUILD_DIR, 'vf-worker'), [], {
                env: { ...this.env, VF_CONFIG: this.configPath, VF_LOG_FILE: log, ...env },
                stdio: ['ignore', out, out], detached: true,
            });
        } finally {
            closeSync(out);
        }
        writeFileSync(join(this.varDir, 'run', `worker-${n}.pid`), `${child.pid}\n`);
        child.unref();
        return child.pid;
    }

    printLogs(lines = 60) {
        const logDir = join(this.varDir, 'log');
        let out = `\n==== stack folder kept: ${this.varDir}\n`;
        if (existsSync(logDir)) {
            for (const f of readdirSync(logDir).filter((n) => n.endsWith('.log')).sort()) {
                out += `---- ${f} (last ${lines} lines)\n${tailFile(join(logDir, f), lines)}\n`;
            }
        }
        process.stderr.write(out);
    }

    installExitHook() {
        // A test process that dies must not leave the stack running.
        this.exitHook = () => {
            if (this.stopped) return;
            this.stopped = true;
            spawnSync(STACK_SH, ['down'], { cwd: ROOT, env: this.env, stdio: 'ignore', timeout: 60_000 });
        };
        process.on('exit', this.exitHook);
        for (const sig of ['SIGINT', 'SIGTERM']) {
            process.once(sig, () => { this.exitHook(); process.exit(130); });
        }
    }

    async stop() {
        if (this.stopped) return;
        try {
            await this.run(['down'], 120_000);
        } catch (e) {
            this.failed = true;
            process.stderr.write(`stack.sh down failed: ${e.message}\n`);
        }
        this.stopped = true;
        process.removeListener('exit', this.exitHook);
        const reports = this.sanitizerReports();
        if (reports.length) this.failed = true;
        if (this.failed || process.env.VF_IT_KEEP === '1') {
            this.printLogs();
        } else {
            rmSync(this.varDir, { recursive: true, force: true });
        }
        if (reports.length) {
            throw new Error(`sanitizer reports in the stack's logs:\n${reports.join('\n')}`);
        }
    }

    // Lines where ASan, LSan or UBSan reported a fault in one of our programs
    // (under `make asan` they log to the program's log file).
    sanitizerReports() {
        const logDir = join(this.varDir, 'log');
        if (!existsSync(logDir)) return [];
        const found = [];
        for (const f of readdirSync(logDir).filter((n) => n.endsWith('.log'))) {
            const text = readFileSync(join(logDir, f), 'utf8');
            for (const line of text.split('\n')) {
                if (/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(line)) {
                    found.push(`${f}: ${line.trim()}`);
                }
            }
        }
        return found;
    }
}

// Reads an event stream until `want(events)` is true or timeoutMs passes;
// returns the events [{id, event, data}] read so far (and aborts the fetch).
export async function readEvents(url, { headers = {}, want, timeoutMs = 15_000 } = {}) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const events = [];
    let status = 0;
    let ctype = '';
    try {
        const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers },
            signal: ac.signal });
        status = res.status;
        ctype = res.headers.get('content-type') || '';
        if (status !== 200) {
            return { status, ctype, events, body: await res.text() };
        }
        const decoder = new TextDecoder();
        let buf = '';
        let cur = { id: null, event: 'message', data: [] };
        for await (const chunk of res.body) {
            buf += decoder.decode(chunk, { stream: true });
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl).replace(/\r$/, '');
                buf = buf.slice(nl + 1);
                if (line === '') {
                    if (cur.data.length) {
                        events.push({ id: cur.id, event: cur.event, data: cur.data.join('\n') });
                    }
                    cur = { id: null, event: 'message', data: [] };
                    continue;
                }
                if (line.startsWith(':')) continue;
                const colon = line.indexOf(':');
                const field = colon < 0 ? line : line.slice(0, colon);
                let value = colon < 0 ? '' : line.slice(colon + 1);
                if (value.startsWith(' ')) value = value.slice(1);
                if (field === 'id') cur.id = value;
                else if (field === 'event') cur.event = value;
                else if (field === 'data') cur.data.push(value);
            }
            if (want && want(events)) break;
        }
    } catch (e) {
        if (e.name !== 'AbortError') throw e;
    } finally {
        clearTimeout(timer);
        ac.abort();
    }
    return { status, ctype, events };
}
