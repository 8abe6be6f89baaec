// The dashboard in a real headless Chromium against a real stack: sign in
// through /login, make a full-auto video from the options form and follow it
// to Done over the event stream, check the player and downloads, the CSP, the
// console, and leave screenshots at desktop and phone sizes in tests/output/.
//
// Needs Debian's /usr/bin/chromium and the playwright-core module of tests/
// (scripts/deps.sh installs both); it never downloads a browser.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startStack } from '../it/harness.mjs';

const CHROMIUM = process.env.VF_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];
const OUTPUT_DIR = join(ROOT, 'tests', 'output');
const DASHBOARD = '/dashboard/video-factory';
const TOPIC = 'How bees pick a new home';
const DURATION_S = 15;
const RESOLUTION = 720;
const JOB_TIMEOUT = 100_000;

let chromium;
try {
    ({ chromium } = await import('playwright-core'));
} catch (e) {
    throw new Error(`playwright-core is not installed in tests/ (run scripts/deps.sh): ${e.message}`);
}

let stack;
let browser;
let page;
let jobId = null;
const documents = new Map();   // path → response headers of the page loads
const consoleErrors = [];      // console errors and uncaught page errors
const expected4xx = [];        // "Failed to load resource" for an API 4xx

before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}`);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    stack = await startStack({ VF_X264_PRESET: 'ultrafast' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ baseURL: stack.url,
        viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watchPage(page);
}, { timeout: 320_000 });

after(async () => {
    await browser?.close().catch(() => {});
    if (stack) await stack.stop();
}, { timeout: 130_000 });

function watchPage(p) {
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
        consoleErrors.push(`console: ${text}${url ? ` (${url})` : ''}`);
    });
    p.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.stack || err.message}`));
}

function isApiUrl(url) {
    try {
        const u = new URL(url);
        return u.origin === new URL(stack.url).origin && u.pathname.startsWith('/api/');
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

async function visibleText(selector) {
    const loc = page.locator(selector);
    await loc.waitFor({ state: 'visible' });
    return (await loc.textContent()).trim();
}

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
});

it('full auto: options, live stepper to Done, a playable video and the downloads', async (t) => {
    assert.equal(new URL(page.url()).pathname, DASHBOARD, 'signed in by the test before');
    const streams = [];
    page.on('request', (req) => {
        if (/\/api\/jobs\/\d+\/events(\?|$)/.test(req.url())) streams.push(req.url());
    });

    await page.locator('#topic').fill(TOPIC);
    await page.locator('#options-grid').waitFor({ state: 'visible' });
    await page.locator('#opt-duration_s').fill(String(DURATION_S));
    await page.locator('#opt-resolution').selectOption(String(RESOLUTION));
    await page.locator('#submit').click();

    const idText = await visibleText('#job-id');
    const m = /#(\d+)/.exec(idText);
    assert.ok(m, `job id shown: ${idText}`);
    jobId = Number(m[1]);
    assert.equal(await visibleText('#job-topic'), TOPIC);
    assert.equal(await visibleText('#job-mode'), 'Full Auto');

    // Mid-render picture; the render of a 15 s clip takes a few seconds, so
    // missing it is not a failure.
    const rendering = page.locator('#stepper .step[data-step="render"][data-status="active"]');
    if (await rendering.waitFor({ timeout: 30_000 }).then(() => true, () => false)) {
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-rendering-1280x900.png') });
    }

    // The page refreshes the job only when a state event arrives, so Done
    // appearing means the stream carried the job to the end.
    const done = page.locator('#stepper .step[data-step="done"]');
    await done.and(page.locator('[data-status="done"]')).waitFor({ timeout: JOB_TIMEOUT });
    for (const step of ['script', 'render', 'finalize']) {
        assert.equal(await page.locator(`#stepper .step[data-step="${step}"]`).getAttribute('data-status'),
            'done', `step ${step}`);
    }
    assert.ok(streams.length >= 1, 'the page opened the job event stream');
    const log = await page.locator('#log-lines').textContent();
    for (const line of ['script started', 'render started', 'finalize started']) {
        assert.ok(log.includes(line), `activity log has "${line}" from the stream: ${log}`);
    }
    assert.equal(await visibleText('#job-badge'), 'Completed');

    const job = await stack.getJob(jobId);
    assert.equal(job.state, 'COMPLETED');
    assert.equal(job.mode, 'full');
    assert.equal(job.options?.duration_s, DURATION_S, 'duration from the form');
    assert.equal(job.options?.resolution, RESOLUTION, 'resolution from the form');
    const want = Number(job.video?.duration_s);
    assert.ok(want > 0, `video.duration_s of the job: ${JSON.stringify(job.video)}`);
    if (job.video.width && job.video.height) {
        assert.equal(Math.min(job.video.width, job.video.height), RESOLUTION, 'short side = resolution');
    }

    const video = page.locator('#player-frame video');
    await video.waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#player-frame video')?.readyState >= 1,
        null, { timeout: 20_000 });
    const got = await video.evaluate((v) => ({ duration: v.duration, readyState: v.readyState,
        width: v.videoWidth, height: v.videoHeight, src: v.currentSrc }));
    t.diagnostic(`video: ${JSON.stringify(got)}; job video.duration_s ${want}`);
    assert.ok(Math.abs(got.duration - want) <= want * 0.1,
        `player duration ${got.duration} within 10% of ${want}`);
    assert.ok(got.src.endsWith(`/api/jobs/${jobId}/media/video.mp4`), got.src);

    const links = await page.locator('#downloads a.download').evaluateAll((as) =>
        as.map((a) => ({ href: a.href, download: a.getAttribute('download'), text: a.textContent })));
    const files = links.map((l) => new URL(l.href).pathname.split('/').pop()).sort();
    assert.deepEqual(files, ['captions.srt', 'captions.vtt', 'script.json', 'thumb.jpg', 'video.mp4']);
    for (const l of links) {
        assert.ok(new URL(l.href).pathname.startsWith(`/api/jobs/${jobId}/media/`), l.href);
        assert.ok(l.download, `download name on ${l.href}`);
        // The browser's own session fetches each file.
        const res = await page.request.get(l.href);
        assert.equal(res.status(), 200, `GET ${l.href}`);
        assert.ok((await res.body()).length > 0, `${l.href} is not empty`);
    }
}, JOB_TIMEOUT + 60_000);

it('pages carry the CSP and the console stays clean', async (t) => {
    for (const path of ['/login', DASHBOARD]) {
        const doc = documents.get(path);
        assert.ok(doc, `page ${path} was loaded`);
        assert.equal(doc.status, 200, path);
        const csp = doc.headers['content-security-policy'] || '';
        assert.match(csp, /(^|;)\s*default-src 'self'(\s*;|$)/, `CSP on ${path}: ${csp}`);
    }
    // A reload of the finished job must not trip the policy either.
    await page.reload();
    await page.locator('#stepper .step[data-step="done"][data-status="done"]').waitFor();
    await page.waitForFunction(() => document.querySelector('#player-frame video')?.readyState >= 1);
    await page.waitForLoadState('networkidle').catch(() => {});

    for (const line of expected4xx) t.diagnostic(`ignored: ${line}`);
    assert.deepEqual(consoleErrors, [], 'no console errors, CSP violations or page errors');
});

it('screenshots at 1280x900 and 390x844', async () => {
    // Let the player finish loading so the picture shows its poster, not a spinner.
    await page.waitForFunction(() => document.querySelector('#player-frame video')?.networkState !== 2,
        null, { timeout: 5_000 }).catch(() => {});
    await page.waitForTimeout(1000);
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

    const login = await page.context().browser().newPage({ viewport: { width: 390, height: 844 } });
    try {
        await login.goto(stack.url + '/login');
        await login.locator('#username').waitFor({ state: 'visible' });
        await login.screenshot({ path: join(OUTPUT_DIR, 'login-390x844.png') });
    } finally {
        await login.close();
    }
    assert.deepEqual(consoleErrors, [], 'no console errors while resizing');
});
