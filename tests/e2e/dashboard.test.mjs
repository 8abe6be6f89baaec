// The dashboard in a real headless Chromium against a real stack: sign in
// through /login; a full-auto video followed live to Done and played; a
// step-by-step job whose narration edit ends up in its captions; a job that
// really fails (the stack's fonts folder is taken away) and is retried to Done
// once the folder is back; the job history (filters, pages, detail, cancel,
// delete) updating live from jobs started through the API, also across a
// network blip; keyboard, labels, the CSP and a clean console; screenshots at
// desktop and phone sizes in tests/output/.
//
// Needs Debian's /usr/bin/chromium and the playwright-core module of tests/
// (scripts/deps.sh installs both); it never downloads a browser.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, existsSync, readdirSync, readFileSync, renameSync, rmSync,
    symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startStack, captionText, words } from '../it/harness.mjs';
import { startBlipProxy } from './blip-proxy.mjs';

const CHROMIUM = process.env.VF_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--autoplay-policy=no-user-gesture-required'];
const OUTPUT_DIR = join(ROOT, 'tests', 'output');
const DASHBOARD = '/dashboard/video-factory';
const SYSTEM_FONTS = '/usr/share/fonts/truetype/dejavu';
const DURATION_S = 15;
const RESOLUTION = 720;
const JOB_TIMEOUT = 120_000;
const PAGE_SIZE = 10;
const EDITED_NARRATION = 'Violet lanterns guide sleepy zebras across the quiet harbour tonight.';

let chromium;
try {
    ({ chromium } = await import('playwright-core'));
} catch (e) {
    throw new Error(`playwright-core is not installed in tests/ (run scripts/deps.sh): ${e.message}`);
}

let stack;
let browser;
let context;
let page;
let fontsDir;                  // the stack's fonts_dir: a folder of links to the DejaVu fonts
let fontsAway;                 // where the failure test moves it
const jobs = {};               // name → id of the jobs the tests made
const documents = new Map();   // path → response headers of the page loads
const consoleErrors = [];      // console errors and uncaught page errors
const expected4xx = [];        // "Failed to load resource" for an API 4xx
const blipErrors = [];         // network errors of a page while its network is cut

before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}`);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    // The renderer checks fonts_dir before each render: without it a render
    // fails for real, and with it back a retry succeeds.
    const fontsRoot = mkdtempSync(join(tmpdir(), 'vf-e2e-fonts-'));
    fontsDir = join(fontsRoot, 'fonts');
    fontsAway = join(fontsRoot, 'fonts-away');
    mkdirSync(fontsDir);
    for (const f of readdirSync(SYSTEM_FONTS)) symlinkSync(join(SYSTEM_FONTS, f), join(fontsDir, f));
    stack = await startStack({ VF_X264_PRESET: 'ultrafast', VF_FONTS_DIR: fontsDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ baseURL: stack.url, viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watchPage(page);
}, { timeout: 320_000 });

after(async () => {
    await browser?.close().catch(() => {});
    if (stack) await stack.stop();
    if (fontsDir) rmSync(join(fontsDir, '..'), { recursive: true, force: true });
}, { timeout: 130_000 });

function watchPage(p, { blip = null } = {}) {
    p.on('response', (res) => {
        if (res.request().resourceType() === 'document') {
            documents.set(new URL(res.url()).pathname, { status: res.status(), headers: res.headers() });
        }
    });
    p.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const text = msg.text();
        const url = msg.location()?.url || '';
        if (/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(text)
            && isApiUrl(url)) {
            expected4xx.push(`${text} (${url})`);
            return;
        }
        if (blip?.down && /net::ERR_/.test(text)) {
            blipErrors.push(`${text} (${url})`);
            return;
        }
        consoleErrors.push(`console: ${text}${url ? ` (${url})` : ''}`);
    });
    p.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.stack || err.message}`));
}

function isApiUrl(url) {
    try {
        return new URL(url).pathname.startsWith('/api/') && new URL(url).hostname === '127.0.0.1';
    } catch {
        return false;
    }
}

// A test whose failure keeps the stack folder, prints its logs and leaves a
// screenshot of the page in tests/output/.
function it(name, fn, timeout = 60_000) {
    test(name, { timeout }, async (t) => {
        try {
            await fn(t);
        } catch (e) {
            stack?.markFailed();
            if (page) {
                const file = join(OUTPUT_DIR, `failed-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
                await page.screenshot({ path: file, fullPage: true }).catch(() => {});
                t.diagnostic(`screenshot of the failure: ${file}`);
            }
            throw e;
        }
    });
}

async function visibleText(selector, p = page) {
    const loc = p.locator(selector);
    await loc.waitFor({ state: 'visible' });
    return (await loc.textContent()).trim();
}

async function apiJob(path, body) {
    const r = await stack.api('POST', path, { token: stack.token, body });
    assert.equal(r.status, 202, `POST ${path}: ${r.text}`);
    return r.json.job;
}

// Starts a job from the form; returns its id as the page shows it.
async function submitJob({ topic, mode, duration = DURATION_S, resolution = RESOLUTION }) {
    await page.locator(`label[for="mode-${mode}"]`).click();
    await page.locator('#topic').fill(topic);
    await page.locator('#options-grid').waitFor({ state: 'visible' });
    await page.locator('#opt-duration_s').fill(String(duration));
    await page.locator('#opt-resolution').selectOption(String(resolution));
    const before = await page.locator('#job-id').textContent();
    await page.locator('#submit').click();
    await page.waitForFunction((old) => {
        const n = document.querySelector('#job-id');
        return n && n.offsetParent !== null && n.textContent !== old;
    }, before);
    const m = /#(\d+)/.exec(await page.locator('#job-id').textContent());
    assert.ok(m, 'job id shown');
    assert.equal(await visibleText('#job-topic'), topic);
    assert.equal(await visibleText('#job-mode'), mode === 'step' ? 'Step-by-Step' : 'Full Auto');
    return Number(m[1]);
}

function stepDone(step) {
    return page.locator(`#stepper .step[data-step="${step}"][data-status="done"]`);
}

// The player's video: metadata, duration near the job's, and really playing.
async function checkPlaying(t, id) {
    const job = await stack.getJob(id);
    const want = Number(job.video?.duration_s);
    assert.ok(want > 0, `video.duration_s of job ${id}: ${JSON.stringify(job.video)}`);
    const video = page.locator('#player-frame video');
    await video.waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#player-frame video')?.readyState >= 1,
        null, { timeout: 30_000 });
    const meta = await video.evaluate((v) => ({ duration: v.duration, readyState: v.readyState,
        width: v.videoWidth, height: v.videoHeight, src: v.currentSrc }));
    t.diagnostic(`video of job ${id}: ${JSON.stringify(meta)}; job video.duration_s ${want}`);
    assert.ok(Math.abs(meta.duration - want) <= want * 0.1,
        `player duration ${meta.duration} within 10% of ${want}`);
    assert.ok(meta.src.endsWith(`/api/jobs/${id}/media/video.mp4`), meta.src);
    assert.ok(meta.width > 0 && meta.height > 0, 'the browser decoded a picture size');

    await video.evaluate((v) => { v.muted = true; return v.play(); });
    await page.waitForFunction(() => {
        const v = document.querySelector('#player-frame video');
        return v && !v.paused && v.currentTime > 0.3 && v.readyState >= 3;
    }, null, { timeout: 30_000 });
    const playing = await video.evaluate((v) => ({ t: v.currentTime, readyState: v.readyState }));
    t.diagnostic(`playing at ${playing.t.toFixed(2)} s, readyState ${playing.readyState}`);
    await video.evaluate((v) => { v.pause(); v.currentTime = 0; });
}

// Controls without a name a screen reader could announce.
async function unlabelledControls(p = page) {
    return p.evaluate(() => {
        const bad = [];
        const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
        for (const el of document.querySelectorAll('input, select, textarea, button, a[href], summary, video')) {
            if (!visible(el) && !(el.type === 'radio')) continue;
            let name = el.getAttribute('aria-label') || '';
            const by = el.getAttribute('aria-labelledby');
            if (by) name += by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ');
            if (el.labels) for (const l of el.labels) name += l.textContent;
            if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName)) name += el.textContent;
            if (!name.trim()) bad.push(el.outerHTML.slice(0, 120));
        }
        return bad;
    });
}

async function historyIds(p = page) {
    return p.locator('#history-list > li').evaluateAll((lis) => lis.map((li) => Number(li.dataset.jobId)));
}

async function historyBadges(p = page) {
    return p.locator('#history-list .badge').evaluateAll((bs) => bs.map((b) => b.dataset.state));
}

async function waitHistory(statusRe, p = page) {
    await p.waitForFunction((src) => new RegExp(src).test(document.querySelector('#history-status')?.textContent || '')
        && !document.querySelector('#history-list')?.hasAttribute('aria-busy'), statusRe.source, { timeout: 30_000 });
}

// Loads the page afresh (a query string, so not just a change of hash).
async function showJob(id) {
    await page.goto(`${DASHBOARD}?at=${Date.now()}#job=${id}`);
    await page.locator('#main').waitFor({ state: 'visible' });
    await page.waitForFunction((want) => document.querySelector('#job-id')?.textContent === `Job #${want}`, id);
}

// ------------------------------------------------------------------ tests

it('signs in through /login: a wrong password shows the error, the right one opens the dashboard', async () => {
    await page.goto('/login');
    await page.locator('#username').fill(stack.user);
    await page.locator('#password').fill(stack.password + '-wrong');
    await page.locator('#login-submit').click();

    const message = await visibleText('#login-error');
    assert.match(message, /password/i, 'the login error names the problem');
    await page.screenshot({ path: join(OUTPUT_DIR, 'login-error-1280x900.png') });
    assert.equal(await page.locator('#password').inputValue(), '', 'the wrong password is cleared');
    assert.equal(new URL(page.url()).pathname, '/login');

    await page.locator('#password').fill(stack.password);
    await Promise.all([
        page.waitForURL((u) => u.pathname === DASHBOARD),
        page.locator('#login-submit').click(),
    ]);
    await page.locator('#main').waitFor({ state: 'visible' });
    assert.equal(await visibleText('#user-name'), stack.user);
    assert.ok(await page.locator('#page-error').isHidden(), 'no page error banner');
    await waitHistory(/No jobs yet/);
    await page.locator('#history-live[data-status="live"]').waitFor();
});

it('full auto: options, live stepper to Done, a playing video and the downloads', async (t) => {
    assert.equal(new URL(page.url()).pathname, DASHBOARD, 'signed in by the test before');
    const streams = [];
    page.on('request', (req) => {
        if (/\/api\/jobs\/\d+\/events(\?|$)/.test(req.url())) streams.push(req.url());
    });

    const id = await submitJob({ topic: 'How bees pick a new home', mode: 'full' });
    jobs.full = id;

    // Mid-render picture; the render of a 15 s clip takes a few seconds, so
    // missing it is not a failure.
    const rendering = page.locator('#stepper .step[data-step="render"][data-status="active"]');
    if (await rendering.waitFor({ timeout: 30_000 }).then(() => true, () => false)) {
        // A worker holds a rendering job: it can be cancelled, not deleted.
        assert.ok(await page.locator('#btn-cancel').isVisible(), 'Cancel offered while rendering');
        assert.ok(await page.locator('#btn-delete').isHidden(), 'no Delete while a worker holds the job');
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-rendering-1280x900.png') });
    }

    // The page refreshes the job only when a state event arrives, so Done
    // appearing means the stream carried the job to the end.
    await stepDone('done').waitFor({ timeout: JOB_TIMEOUT });
    for (const step of ['script', 'render', 'finalize']) {
        assert.equal(await page.locator(`#stepper .step[data-step="${step}"]`).getAttribute('data-status'),
            'done', `step ${step}`);
    }
    assert.ok(streams.length >= 1, 'the page opened the job event stream');
    // Each step's "started" line reaches the activity log over the stream.
    const lines = ['script started', 'render started', 'finalize started'];
    const logged = await page.waitForFunction((want) => {
        const text = document.querySelector('#log-lines')?.textContent || '';
        return want.every((l) => text.includes(l));
    }, lines, { timeout: 20_000 }).then(() => true, () => false);
    assert.ok(logged, `activity log has ${lines.join(', ')}: ${await page.locator('#log-lines').textContent()}`);
    assert.equal(await visibleText('#job-badge'), 'Completed');
    // The history row followed on the all-jobs stream.
    await page.locator(`#history-list [data-job-id="${id}"] .badge[data-state="COMPLETED"]`).waitFor();

    const job = await stack.getJob(id);
    assert.equal(job.state, 'COMPLETED');
    assert.equal(job.mode, 'full');
    assert.equal(job.options?.duration_s, DURATION_S, 'duration from the form');
    assert.equal(job.options?.resolution, RESOLUTION, 'resolution from the form');
    if (job.video.width && job.video.height) {
        assert.equal(Math.min(job.video.width, job.video.height), RESOLUTION, 'short side = resolution');
    }
    await checkPlaying(t, id);

    const links = await page.locator('#downloads a.download').evaluateAll((as) =>
        as.map((a) => ({ href: a.href, download: a.getAttribute('download'), text: a.textContent })));
    const files = links.map((l) => new URL(l.href).pathname.split('/').pop()).sort();
    assert.deepEqual(files, ['captions.srt', 'captions.vtt', 'script.json', 'thumb.jpg', 'video.mp4']);
    for (const l of links) {
        assert.ok(new URL(l.href).pathname.startsWith(`/api/jobs/${id}/media/`), l.href);
        assert.ok(l.download, `download name on ${l.href}`);
        // The browser's own session fetches each file.
        const res = await page.request.get(l.href);
        assert.equal(res.status(), 200, `GET ${l.href}`);
        assert.ok((await res.body()).length > 0, `${l.href} is not empty`);
    }
}, JOB_TIMEOUT + 60_000);

it('step by step: edit the script (server errors on the field), render, play, finalize; the edit is in the captions', async (t) => {
    const id = await submitJob({ topic: 'How tides follow the moon', mode: 'step' });
    jobs.step = id;
    await page.locator('#script-editor').waitFor({ state: 'visible', timeout: JOB_TIMEOUT });
    assert.equal(await visibleText('#job-badge'), 'Script ready');
    assert.ok(await page.locator('#btn-render').isVisible(), 'Render video offered');
    assert.equal(await page.locator('#stepper .step[data-step="render"]').getAttribute('data-status'), 'waiting');
    assert.deepEqual(await unlabelledControls(), [], 'every control of the editor has a label');

    // Nine keywords pass the page's checks but not the server's (at most 8):
    // the server's message must land on that field.
    const scenes = await page.locator('#scenes > li').count();
    assert.ok(scenes >= 2, `the script has ${scenes} scenes`);
    const keywords = page.locator('#scene-1-keywords');
    const oldKeywords = await keywords.inputValue();
    await keywords.fill('a, b, c, d, e, f, g, h, i');
    await page.locator('#btn-save-script').click();
    await page.locator('#scene-1-keywords[aria-invalid="true"]').waitFor();
    assert.match(await visibleText('#scene-1-keywords-error'), /at most 8 keywords/);
    await keywords.fill(oldKeywords);

    // Edit the first narration, move the last scene up once, save.
    await page.locator('#scene-0-narration').fill(EDITED_NARRATION);
    assert.equal(await visibleText('#script-dirty'), 'Unsaved changes');
    const lastUp = page.locator(`#scenes > li[data-index="${scenes - 1}"] [data-action="up"]`);
    const lastNarration = await page.locator(`#scene-${scenes - 1}-narration`).inputValue();
    await lastUp.click();
    assert.equal(await page.locator(`#scene-${scenes - 2}-narration`).inputValue(), lastNarration,
        'the scene moved up');
    assert.ok(await page.evaluate((i) => !!document.activeElement?.closest(`#scenes > li[data-index="${i}"]`),
        scenes - 2), 'focus stays on the moved scene');
    await page.locator('#btn-save-script').click();
    await page.waitForFunction(() => document.querySelector('#script-dirty')?.textContent === '');
    let job = await stack.getJob(id);
    assert.equal(job.state, 'SCRIPT_READY');
    assert.equal(job.script.scenes[0].narration, EDITED_NARRATION, 'the edit is saved');
    assert.equal(job.script.scenes[scenes - 2].narration, lastNarration, 'the order is saved');

    await page.locator('#btn-render').click();
    await page.locator('#btn-finalize').waitFor({ state: 'visible', timeout: JOB_TIMEOUT });
    assert.equal(await visibleText('#job-badge'), 'Video ready');
    assert.ok(await stepDone('render').isVisible(), 'render step done');
    await checkPlaying(t, id);

    await page.locator('#btn-finalize').click();
    await stepDone('done').waitFor({ timeout: JOB_TIMEOUT });
    job = await stack.getJob(id);
    assert.equal(job.state, 'COMPLETED');
    assert.equal(job.mode, 'semi');
    assert.match(await page.locator('#script-view-scenes').textContent(), /Violet lanterns guide sleepy zebras/);

    const vtt = await page.request.get(`/api/jobs/${id}/media/captions.vtt`);
    assert.equal(vtt.status(), 200);
    const text = await vtt.text();
    assert.match(text, /^WEBVTT/);
    const got = words(captionText(text)).join(' ');
    const want = words(EDITED_NARRATION).join(' ');
    assert.ok(got.includes(want), `captions.vtt holds the edited narration "${want}": ${got.slice(0, 300)}`);
}, 2 * JOB_TIMEOUT + 60_000);

it('a job that fails for real (no fonts folder) shows the step and message, and Retry takes it to Done', async () => {
    renameSync(fontsDir, fontsAway);
    try {
        const id = await submitJob({ topic: 'Why the sky turns red at dusk', mode: 'full' });
        jobs.retried = id;
        await page.locator('#failure[data-kind="failed"]').waitFor({ state: 'visible', timeout: JOB_TIMEOUT });
        assert.equal(await visibleText('#failure-title'), 'Video step failed');
        const message = await visibleText('#failure-message');
        assert.ok(message.includes('fonts_dir') && message.includes(fontsDir),
            `the message names the missing folder: ${message}`);
        assert.equal(await page.locator('#stepper .step[data-step="render"]').getAttribute('data-status'), 'failed');
        assert.ok(await stepDone('script').isVisible(), 'the script step had finished');
        assert.equal(await visibleText('#job-badge'), 'Failed');
        await page.locator(`#history-list [data-job-id="${id}"] .badge[data-state="FAILED"]`).waitFor();
        const failed = await stack.getJob(id);
        assert.equal(failed.state, 'FAILED');
        assert.equal(failed.error?.step, 'render');

        renameSync(fontsAway, fontsDir);
        await page.locator('#btn-retry').click();
        await stepDone('done').waitFor({ timeout: JOB_TIMEOUT });
        assert.ok(await page.locator('#failure').isHidden(), 'the failure notice is gone');
        assert.ok(await page.locator('#btn-retry').isHidden(), 'no Retry on a finished job');
        const done = await stack.getJob(id);
        assert.equal(done.state, 'COMPLETED');
        assert.ok(done.video?.duration_s > 0);
        await page.locator(`#history-list [data-job-id="${id}"] .badge[data-state="COMPLETED"]`).waitFor();
    } finally {
        if (existsSync(fontsAway)) renameSync(fontsAway, fontsDir);
    }
}, 2 * JOB_TIMEOUT);

it('job history: live rows, state filter, pages, the detail view, cancel and delete', async () => {
    // Eight step-by-step jobs through the API: the worker writes their
    // scripts (quick), seven are cancelled, one waits for review.
    const extra = [];
    for (let i = 0; i < 8; i++) {
        extra.push((await apiJob('/api/jobs/step-script', { topic: `Quick history topic ${i + 1}` })).id);
    }
    for (const id of extra) await stack.waitForState(id, ['SCRIPT_READY'], JOB_TIMEOUT);
    const waiting = extra.pop();
    for (const id of extra) {
        const r = await stack.api('POST', `/api/jobs/${id}/cancel`, { token: stack.token });
        assert.equal(r.status, 202, r.text);
    }
    for (const id of extra) await stack.waitForState(id, ['CANCELLED'], 30_000);

    // The page heard about all of them without a reload.
    const all = [jobs.full, jobs.step, jobs.retried, ...extra, waiting].sort((a, b) => b - a);
    assert.equal(all.length, PAGE_SIZE + 1);
    await page.waitForFunction((want) => {
        const ids = [...document.querySelectorAll('#history-list > li')].map((li) => Number(li.dataset.jobId));
        return ids.length === want.length && ids.every((v, i) => v === want[i]);
    }, all.slice(0, PAGE_SIZE), { timeout: 30_000 });
    await page.locator(`#history-list [data-job-id="${extra[0]}"] .badge[data-state="CANCELLED"]`).waitFor();
    await page.locator(`#history-list [data-job-id="${waiting}"] .badge[data-state="SCRIPT_READY"]`).waitFor();
    assert.equal(await visibleText('#history-status'), `Jobs 1–${PAGE_SIZE}`);

    // Pages: ten, then the oldest one, and back.
    assert.ok(await page.locator('#history-newer').isDisabled());
    await page.locator('#history-older').click();
    await waitHistory(new RegExp(`^Jobs ${PAGE_SIZE + 1}–${PAGE_SIZE + 1}$`));
    assert.deepEqual(await historyIds(), all.slice(PAGE_SIZE));
    assert.equal(await visibleText('#history-page'), 'Page 2');
    assert.ok(await page.locator('#history-older').isDisabled());
    await page.locator('#history-newer').click();
    await waitHistory(new RegExp(`^Jobs 1–${PAGE_SIZE}$`));
    assert.deepEqual(await historyIds(), all.slice(0, PAGE_SIZE));

    // Filters.
    await page.locator('#history-state').selectOption('COMPLETED');
    await waitHistory(/Completed$/);
    assert.deepEqual(await historyIds(), [jobs.retried, jobs.step, jobs.full]);
    assert.deepEqual(await historyBadges(), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    assert.ok(await page.locator('.pager').isHidden(), 'one page, no pager');
    await page.locator('#history-state').selectOption('CANCELLED');
    await waitHistory(/Cancelled$/);
    assert.deepEqual(await historyIds(), [...extra].sort((a, b) => b - a));

    // The detail view of a finished job: video, script, every download.
    await page.locator('#history-state').selectOption('COMPLETED');
    await waitHistory(/Completed$/);
    await page.locator(`#history-list [data-job-id="${jobs.step}"] button`).click();
    await page.waitForFunction((id) => document.querySelector('#job-id')?.textContent === `Job #${id}`, jobs.step);
    assert.equal(new URL(page.url()).hash, `#job=${jobs.step}`);
    assert.equal(await page.locator(`#history-list [data-job-id="${jobs.step}"] button`).getAttribute('aria-current'), 'true');
    await page.locator('#player-frame video').waitFor({ state: 'visible' });
    await page.locator('#script-view summary').click();
    assert.match(await visibleText('#script-view-scenes'), /Violet lanterns guide sleepy zebras/);
    const downloads = await page.locator('#downloads a.download').evaluateAll((as) =>
        as.map((a) => [a.querySelector('.download-name').textContent, new URL(a.href).pathname]));
    for (const [label, file] of [['MP4 video', 'video.mp4'], ['SRT captions', 'captions.srt'],
        ['VTT captions', 'captions.vtt'], ['Script JSON', 'script.json']]) {
        const found = downloads.find(([l]) => l === label);
        assert.ok(found, `download "${label}" in ${JSON.stringify(downloads)}`);
        assert.equal(found[1], `/api/jobs/${jobs.step}/media/${file}`);
        const res = await page.request.get(found[1]);
        assert.equal(res.status(), 200, found[1]);
    }
    const scriptJson = JSON.parse(await (await page.request.get(`/api/jobs/${jobs.step}/media/script.json`)).text());
    assert.equal(scriptJson.scenes[0].narration, EDITED_NARRATION);
    assert.ok(await page.locator('#btn-cancel').isHidden(), 'a finished job cannot be cancelled');
    assert.ok(await page.locator('#btn-delete').isVisible(), 'a finished job can be deleted');

    // Cancel from the detail view (the button asks once more).
    await page.locator('#history-state').selectOption('SCRIPT_READY');
    await waitHistory(/Script ready$/);
    assert.deepEqual(await historyIds(), [waiting]);
    await page.locator(`#history-list [data-job-id="${waiting}"] button`).click();
    await page.waitForFunction((id) => document.querySelector('#job-id')?.textContent === `Job #${id}`, waiting);
    await page.locator('#btn-cancel').click();
    assert.equal(await visibleText('#btn-cancel'), 'Confirm cancel');
    await page.locator('#btn-cancel').click();
    await page.locator('#job-badge[data-state="CANCELLED"]').waitFor({ timeout: 30_000 });
    assert.equal((await stack.getJob(waiting)).state, 'CANCELLED');
    // Out of the "Script ready" filter, live.
    await waitHistory(/^No jobs in the state/);

    // Delete it from the detail view.
    await page.locator('#btn-delete').click();
    assert.equal(await visibleText('#btn-delete'), 'Confirm delete');
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE'
        && r.url().endsWith(`/api/jobs/${waiting}`));
    await page.locator('#btn-delete').click();
    assert.equal((await deleted).status(), 204);
    await page.locator('#production-empty').waitFor({ state: 'visible' });
    assert.equal(await visibleText('#production-empty-hint'), `Job #${waiting} was deleted.`);
    assert.equal(new URL(page.url()).hash, '');
    const gone = await stack.api('GET', `/api/jobs/${waiting}`, { token: stack.token });
    assert.equal(gone.status, 404);

    await page.locator('#history-state').selectOption('');
    await waitHistory(new RegExp(`^Jobs 1–${PAGE_SIZE}$`));
    assert.ok(!(await historyIds()).includes(waiting), 'the deleted job left the history');
}, 3 * JOB_TIMEOUT);

it('the history follows jobs started through the API live, and a network blip loses no event', async (t) => {
    const proxy = await startBlipProxy(stack.url);
    const live = await context.newPage();
    watchPage(live, { blip: proxy });
    // What the browser received on the all-jobs stream, per connection.
    const cdp = await context.newCDPSession(live);
    await cdp.send('Network.enable');
    const streamRequests = new Map();     // requestId → { url, lastEventId }
    const received = [];                  // { requestId, id, type, data }
    const request = (id) => {
        if (!streamRequests.has(id)) streamRequests.set(id, { url: '', lastEventId: null });
        return streamRequests.get(id);
    };
    cdp.on('Network.requestWillBeSent', (e) => {
        request(e.requestId).url = e.request.url;
    });
    // The headers as sent, Last-Event-ID included (the browser adds it late).
    cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
        for (const [k, v] of Object.entries(e.headers || {})) {
            if (k.toLowerCase() === 'last-event-id') request(e.requestId).lastEventId = v;
        }
    });
    cdp.on('Network.eventSourceMessageReceived', (e) => {
        received.push({ requestId: e.requestId, id: Number(e.eventId), type: e.eventName, data: JSON.parse(e.data) });
    });
    const allJobsEvents = () => received.filter((m) =>
        /^\/api\/events$/.test(new URL(streamRequests.get(m.requestId)?.url || 'http://x/').pathname));

    try {
        await live.goto(proxy.url + DASHBOARD);
        await live.locator('#main').waitFor({ state: 'visible' });
        await live.locator('#history-live[data-status="live"]').waitFor();
        await waitHistory(/^Jobs 1–/, live);
        await live.evaluate(() => { window.vfNoReload = true; });

        // A full-auto job from a program: its row appears and its badge walks
        // through the states, all without a reload.
        await live.evaluate(() => {
            window.vfBadges = {};
            new MutationObserver(() => {
                for (const b of document.querySelectorAll('#history-list > li .badge')) {
                    const id = b.closest('li').dataset.jobId;
                    const seen = (window.vfBadges[id] ||= []);
                    if (seen[seen.length - 1] !== b.dataset.state) seen.push(b.dataset.state);
                }
            }).observe(document.querySelector('#history-list'), { subtree: true, childList: true,
                attributes: true, attributeFilter: ['data-state'] });
        });
        const a = await apiJob('/api/jobs/generate', { topic: 'Why owls turn their heads',
            options: { duration_s: DURATION_S, resolution: RESOLUTION } });
        await live.locator(`#history-list [data-job-id="${a.id}"] .badge[data-state="COMPLETED"]`)
            .waitFor({ timeout: JOB_TIMEOUT });
        const seen = await live.evaluate((id) => window.vfBadges[String(id)], a.id);
        t.diagnostic(`badges of job ${a.id}: ${seen.join(' → ')}`);
        assert.ok(seen.length >= 2, `the badge changed live: ${seen}`);
        const order = ['IDLE', 'GENERATING_SCRIPT', 'ASSEMBLING_VIDEO', 'FINALIZING', 'COMPLETED'];
        assert.ok(seen.every((st, i) => i === 0 || order.indexOf(st) > order.indexOf(seen[i - 1])),
            `the badge only moves forward: ${seen.join(' → ')}`);
        assert.equal(seen[seen.length - 1], 'COMPLETED');
        assert.equal(await live.evaluate(() => window.vfNoReload), true, 'the page was not reloaded');
        assert.equal(await live.locator(`#history-list [data-job-id="${a.id}"] .badge`).textContent(), 'Completed');

        // The blip: the page's connections are reset and refused while a job
        // runs from start to end; when the network is back the stream resumes
        // from its last event and the server replays exactly what was missed.
        const beforeCut = allJobsEvents();
        assert.ok(beforeCut.length > 0, 'the all-jobs stream carried events before the blip');
        const lastBefore = Math.max(...beforeCut.map((m) => m.id));
        proxy.cut();
        await live.locator('#history-live[data-status="lost"]').waitFor({ timeout: 20_000 });
        const b = await apiJob('/api/jobs/generate', { topic: 'How glaciers carve valleys',
            options: { duration_s: DURATION_S, resolution: RESOLUTION } });
        await stack.waitForState(b.id, ['COMPLETED'], JOB_TIMEOUT);
        assert.equal(await live.locator(`#history-list [data-job-id="${b.id}"]`).count(), 0,
            'nothing reached the page during the blip');
        proxy.restore();

        await live.locator(`#history-list [data-job-id="${b.id}"] .badge[data-state="COMPLETED"]`)
            .waitFor({ timeout: 60_000 });
        await live.locator('#history-live[data-status="live"]').waitFor({ timeout: 60_000 });
        assert.equal(await live.evaluate(() => window.vfNoReload), true, 'the page was not reloaded');

        const want = (await stack.sql(`SELECT id FROM job_events WHERE job_id = ${b.id} ORDER BY id`))
            .map((r) => Number(r[0]));
        assert.ok(want.length >= 6, `job ${b.id} wrote its events: ${want}`);
        // Let the replay finish before counting.
        const deadline = Date.now() + 20_000;
        let gotB = [];
        for (;;) {
            gotB = allJobsEvents().filter((m) => m.data.job_id === b.id).map((m) => m.id);
            if (gotB.length >= want.length || Date.now() > deadline) break;
            await new Promise((r) => setTimeout(r, 200));
        }
        assert.deepEqual(gotB, want, `every event of job ${b.id}, once and in order`);
        const ids = allJobsEvents().map((m) => m.id);
        assert.equal(new Set(ids).size, ids.length, 'no event arrived twice');
        // The connection that brought them asked to resume after the last event seen.
        const replayedOn = allJobsEvents().find((m) => m.data.job_id === b.id).requestId;
        const resume = streamRequests.get(replayedOn);
        const resumedAfter = resume.lastEventId ?? new URL(resume.url).searchParams.get('last_event_id');
        t.diagnostic(`replayed on ${resume.url} with Last-Event-ID ${resumedAfter}; ${blipErrors.length} network errors during the blip`);
        assert.equal(Number(resumedAfter), lastBefore, 'resumed from the last event received');
    } finally {
        proxy.restore();
        await live.close().catch(() => {});
        await proxy.close();
    }
}, 3 * JOB_TIMEOUT);

it('keyboard: every part is reachable with a visible focus ring, and controls have labels', async () => {
    await showJob(jobs.full);
    await page.locator('#player-frame video').waitFor({ state: 'visible' });
    await waitHistory(/^Jobs 1–/);
    assert.deepEqual(await unlabelledControls(), [], 'every control has a label');

    await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    const reached = new Map();
    const noRing = [];
    for (let i = 0; i < 90; i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            // A visually hidden radio shows its focus on its label.
            const shown = el.matches('.segmented input') ? el.nextElementSibling : el;
            const cs = getComputedStyle(shown);
            // The video's own controls draw their focus inside the player.
            const ring = el.tagName === 'VIDEO'
                || (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 1);
            const key = el.id ? `#${el.id}`
                : el.closest('[data-job-id]') ? 'history-item'
                    : el.matches('a.download') ? 'download' : `${el.tagName.toLowerCase()}.${el.className}`;
            return { key, ring, focusVisible: el.tagName === 'VIDEO' || el.matches(':focus-visible') };
        });
        if (!f) continue;
        reached.set(f.key, f);
        if (!f.ring || !f.focusVisible) noRing.push(f.key);
    }
    const keys = [...reached.keys()];
    for (const want of ['#topic', '#mode-full', '#opt-language', '#submit', '#btn-delete', 'download',
        '#history-state', '#history-refresh', 'history-item', '#history-older', '#logout']) {
        assert.ok(reached.has(want), `Tab reaches ${want}: ${keys.join(' ')}`);
    }
    assert.deepEqual(noRing, [], 'every focused element shows a focus ring');

    // Enter on a history row opens it.
    await page.locator(`#history-list [data-job-id="${jobs.retried}"] button`).focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((id) => document.querySelector('#job-id')?.textContent === `Job #${id}`, jobs.retried);
    assert.equal(new URL(page.url()).hash, `#job=${jobs.retried}`);
});

it('pages carry the CSP, hold no inline script or style, and the console stays clean', async (t) => {
    for (const path of ['/login', DASHBOARD]) {
        const doc = documents.get(path);
        assert.ok(doc, `page ${path} was loaded`);
        assert.equal(doc.status, 200, path);
        const csp = doc.headers['content-security-policy'] || '';
        assert.match(csp, /(^|;)\s*default-src 'self'(\s*;|$)/, `CSP on ${path}: ${csp}`);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `no unsafe sources in ${csp}`);
    }
    for (const file of readdirSync(join(ROOT, 'www')).filter((f) => f.endsWith('.html'))) {
        const html = readFileSync(join(ROOT, 'www', file), 'utf8');
        assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${file}: no inline script`);
        assert.doesNotMatch(html, /<style\b/i, `${file}: no style element`);
        assert.doesNotMatch(html, /\sstyle\s*=/i, `${file}: no style attribute`);
        assert.doesNotMatch(html, /\son[a-z]+\s*=/i, `${file}: no inline event handler`);
    }
    // A reload of a finished job must not trip the policy either.
    await showJob(jobs.step);
    await stepDone('done').waitFor();
    await page.waitForFunction(() => document.querySelector('#player-frame video')?.readyState >= 1);
    await page.waitForLoadState('networkidle').catch(() => {});

    for (const line of expected4xx) t.diagnostic(`ignored: ${line}`);
    for (const line of blipErrors) t.diagnostic(`during the blip: ${line}`);
    assert.deepEqual(consoleErrors, [], 'no console errors, CSP violations or page errors');
});

it('screenshots at 1280x900 and 390x844', async () => {
    // Show a frame with its caption rather than the player's loading spinner.
    const video = page.locator('#player-frame video');
    await video.evaluate((v) => { v.muted = true; v.currentTime = Math.min(2, v.duration / 2); return v.play(); });
    await page.waitForFunction(() => {
        const v = document.querySelector('#player-frame video');
        return v.currentTime > Math.min(2.5, v.duration / 2 + 0.5) && v.readyState >= 3;
    }, null, { timeout: 20_000 });
    await video.evaluate((v) => v.pause());
    await page.waitForFunction(() => [...document.images].every((i) => i.complete), null,
        { timeout: 10_000 }).catch(() => {});
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-1280x900.png') });
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-1280x900-full.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-390x844.png') });
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-390x844-full.png'), fullPage: true });
    // Nothing may stick out sideways on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth
        - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `page wider than the phone by ${overflow}px`);
    const wide = await page.evaluate(() => [...document.querySelectorAll('#main *')]
        .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > window.innerWidth + 1
            && !el.closest('.history-topic'))
        .map((el) => `${el.tagName}#${el.id}.${el.className}`).slice(0, 5));
    assert.deepEqual(wide, [], 'no element runs off the phone screen');
    await page.evaluate(() => document.querySelector('#production-title').scrollIntoView());
    await page.screenshot({ path: join(OUTPUT_DIR, 'production-390x844.png') });
    await page.evaluate(() => document.querySelector('#history-title').scrollIntoView());
    await page.screenshot({ path: join(OUTPUT_DIR, 'history-390x844.png') });

    const login = await context.browser().newPage({ viewport: { width: 390, height: 844 } });
    try {
        await login.goto(stack.url + '/login');
        await login.locator('#username').waitFor({ state: 'visible' });
        await login.screenshot({ path: join(OUTPUT_DIR, 'login-390x844.png') });
    } finally {
        await login.close();
    }
    assert.deepEqual(consoleErrors, [], 'no console errors while resizing');
});

it('signing out on another device sends an open dashboard to the login page by itself', async () => {
    const other = await browser.newContext({ baseURL: stack.url, viewport: { width: 1280, height: 900 } });
    try {
        const p = await other.newPage();
        await p.goto('/login');
        await p.locator('#username').fill(stack.user);
        await p.locator('#password').fill(stack.password);
        await Promise.all([
            p.waitForURL((u) => u.pathname === DASHBOARD),
            p.locator('#login-submit').click(),
        ]);
        await p.locator('#history-live[data-status="live"]').waitFor();
        const session = (await other.cookies()).find((c) => c.name === 'vf_session');
        assert.ok(session, 'the session cookie is set');
        const out = await fetch(`${stack.url}/api/auth/logout`, { method: 'POST',
            headers: { cookie: `vf_session=${session.value}`, 'x-requested-with': 'vf-dashboard' } });
        assert.equal(out.status, 204);
        // No click and no reload: vf-sse ends the session's open stream, the
        // browser's reconnect is refused with 401, and the page signs out.
        await p.waitForURL((u) => u.pathname === '/login', { timeout: 30_000 });
        assert.equal(new URL(page.url()).pathname, DASHBOARD,
            'the first browser, with a session of its own, stays signed in');
    } finally {
        await other.close();
    }
});
