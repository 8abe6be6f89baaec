// The model script writers through the real stack, against the fake Gemini
// and the fake OpenAI-compatible server (tests/fakes/): a full-auto job whose
// captions speak the fake's script, and every fault case of PROTOCOLS §1.3,
// each checked for its final state, its error message and how many requests
// the fake saw.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, words, captionText, stackTest } from './harness.mjs';
import { startFakeGemini } from '../fakes/gemini.mjs';
import { startFakeOpenAI } from '../fakes/openai.mjs';

const KEY = 'test-key';
const MAX_ATTEMPTS = 3;
const TIMEOUT_S = 2;          // script_timeout_s: the slow case times out quickly
const STEP_TIMEOUT = 60_000;

let stack;
let gemini;
let openai;

before(async () => {
    gemini = await startFakeGemini({ key: KEY });
    openai = await startFakeOpenAI({ key: KEY });
    stack = await startStack({
        VF_SCRIPT_PROVIDER: 'gemini',
        VF_GEMINI_API_KEY: KEY,
        VF_GEMINI_BASE_URL: gemini.url,
        VF_OPENAI_BASE_URL: openai.url,
        VF_OPENAI_API_KEY: KEY,
        VF_OPENAI_MODEL: 'fake-gpt',
        VF_SCRIPT_TIMEOUT_S: String(TIMEOUT_S),
        VF_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        VF_X264_PRESET: 'ultrafast',
    });
}, { timeout: 320_000 });

after(async () => {
    if (stack) await stack.stop();
    if (gemini) await gemini.close();
    if (openai) await openai.close();
}, { timeout: 130_000 });

const it = stackTest(() => stack, 90_000);

async function submit(path, topic, options = {}) {
    const r = await stack.api('POST', path, { token: stack.token,
        body: { topic, options: { duration_s: 15, ...options } } });
    assert.equal(r.status, 202, r.text);
    return r.json.job.id;
}

// A step-by-step job: only the script step runs.
async function scriptJob(topic, options = {}) {
    const id = await submit('/api/jobs/step-script', topic, options);
    return stack.waitForState(id, ['SCRIPT_READY', 'FAILED', 'CANCELLED'], STEP_TIMEOUT);
}

function narrationOf(script) {
    return script.scenes.map((s) => s.narration).join(' ');
}

function assertFailed(job, pattern) {
    assert.equal(job.state, 'FAILED', JSON.stringify(job));
    assert.equal(job.error && job.error.step, 'script', JSON.stringify(job.error));
    assert.match(job.error.message, pattern);
    assert.ok(!job.error.message.includes(KEY), 'the key never reaches a message');
}

function assertReady(job, fake) {
    assert.equal(job.state, 'SCRIPT_READY', JSON.stringify(job));
    const answered = fake.requests().filter((r) => r.script);
    assert.ok(answered.length >= 1, 'the fake wrote a script');
    assert.equal(narrationOf(job.script), narrationOf(answered[answered.length - 1].script));
}

function fresh(...modes) {
    gemini.reset();
    openai.reset();
    for (const m of modes) (m.fake || gemini).program(m);
}

// ---- Gemini ----

it('gemini: a full-auto job completes and its captions speak the fake\'s script', async () => {
    fresh();
    const id = await submit('/api/jobs/generate', 'How octopuses change colour',
        { duration_s: 15, resolution: 720 });
    const job = await stack.waitForState(id, ['COMPLETED'], 240_000);
    const reqs = gemini.requests();
    assert.equal(reqs.length, 1);
    const req = reqs[0];
    assert.equal(req.headers['x-goog-api-key'], KEY);
    assert.match(req.path, /^\/v1beta\/models\/gemini-2\.5-flash:generateContent$/);
    const g = req.body.generationConfig;
    assert.equal(g.responseMimeType, 'application/json');
    assert.equal(typeof g.responseJsonSchema, 'object');
    assert.ok(g.maxOutputTokens > 0 && typeof g.temperature === 'number');
    const system = req.body.systemInstruction.parts[0].text;
    assert.match(system, /hook/);
    assert.match(system, /call to action/);
    assert.match(req.body.contents[0].parts[0].text, /Topic: How octopuses change colour/);

    const fakeScript = req.script;
    assert.equal(narrationOf(job.script), narrationOf(fakeScript));
    const vtt = await stack.api('GET', `/api/jobs/${id}/media/captions.vtt`, { token: stack.token });
    assert.equal(vtt.status, 200);
    assert.deepEqual(words(captionText(vtt.text)), words(narrationOf(fakeScript)),
        'the captions are the fake\'s narration, word for word');
    const stored = await stack.api('GET', `/api/jobs/${id}/media/script.json`, { token: stack.token });
    assert.equal(stored.status, 200);
    assert.equal(narrationOf(JSON.parse(stored.text)), narrationOf(fakeScript));

    assert.equal(job.usage.provider, 'gemini');
    assert.equal(job.usage.model, 'gemini-2.5-flash');
    assert.ok(job.usage.prompt_tokens > 0 && job.usage.output_tokens > 0);
    assert.equal(job.usage.total_tokens, job.usage.prompt_tokens + job.usage.output_tokens);
}, 300_000);

it('gemini: invalid JSON is asked for again once with the errors, then fails', async () => {
    fresh({ mode: 'invalid_json' });
    const job = await scriptJob('Why the sky is blue');
    assertFailed(job, /^Gemini wrote an unusable script, and again when asked to fix it: the answer is not valid JSON/);
    const reqs = gemini.requests();
    assert.equal(reqs.length, 2);
    const again = reqs[1].body.contents;
    assert.deepEqual(again.map((c) => c.role), ['user', 'model', 'user']);
    assert.match(again[2].parts[0].text, /not valid JSON/);
});

it('gemini: one invalid answer, then a valid one: the script is ready', async () => {
    fresh({ mode: 'invalid_json', count: 1 });
    const job = await scriptJob('Why cats purr');
    assertReady(job, gemini);
    assert.equal(gemini.requests().length, 2);
    assert.equal(job.usage.requests, 2);
});

it('gemini: JSON that breaks the schema fails after asking again, naming the fields', async () => {
    fresh({ mode: 'bad_schema' });
    const job = await scriptJob('How bees dance');
    assertFailed(job, /unusable script.*scenes: must be an array of 1 to 20 scenes/);
    assert.equal(gemini.requests().length, 2);
    assert.match(gemini.requests()[1].body.contents[2].parts[0].text, /scenes: must be an array/);
});

it('gemini: 429 waits for RetryInfo and then succeeds', async () => {
    fresh({ mode: 'rate_limit', count: 1 });
    gemini.program({ retry_delay: '1s' });
    const job = await scriptJob('How tides work');
    assertReady(job, gemini);
    const reqs = gemini.requests();
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].status, 429);
    assert.ok(reqs[1].at - reqs[0].at >= 900, `asked again after ${reqs[1].at - reqs[0].at} ms`);
    assert.ok(reqs[1].at - reqs[0].at < 10_000, `asked again after ${reqs[1].at - reqs[0].at} ms`);
});

it('gemini: a per-day quota fails at once, saying so', async () => {
    fresh({ mode: 'daily_quota' });
    const job = await scriptJob('Why leaves fall');
    assertFailed(job, /^Gemini's daily quota is used up/);
    assert.equal(gemini.requests().length, 1);
});

it('gemini: 503 every time fails after max_attempts requests', async () => {
    fresh({ mode: 'unavailable' });
    const job = await scriptJob('How volcanoes erupt');
    assertFailed(job, /Gemini is unavailable \(HTTP 503 UNAVAILABLE/);
    assert.equal(gemini.requests().length, MAX_ATTEMPTS);
    assert.equal(job.attempts, MAX_ATTEMPTS);
});

it('gemini: a 500 once is retried with backoff', async () => {
    fresh({ mode: 'internal', count: 1 });
    const job = await scriptJob('How magnets work');
    assertReady(job, gemini);
    assert.equal(gemini.requests().length, 2);
});

it('gemini: a bad key (400 API_KEY_INVALID) fails at once', async () => {
    fresh();
    gemini.program({ key: 'another-key' });
    const job = await scriptJob('How rainbows form');
    assertFailed(job, /^Gemini rejected the API key/);
    const reqs = gemini.requests();
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].status, 400);
});

it('gemini: a blocked prompt fails with the reason', async () => {
    fresh({ mode: 'blocked' });
    const job = await scriptJob('Something the model will not touch');
    assertFailed(job, /^Gemini blocked the prompt \(blockReason PROHIBITED_CONTENT\)/);
    assert.equal(gemini.requests().length, 1);
});

it('gemini: MAX_TOKENS without parts is asked again with a larger budget, then fails', async () => {
    fresh({ mode: 'max_tokens' });
    const job = await scriptJob('Why we dream');
    assertFailed(job, /^Gemini ran out of output tokens twice/);
    const reqs = gemini.requests();
    assert.equal(reqs.length, 2);
    assert.ok(reqs[1].body.generationConfig.maxOutputTokens > reqs[0].body.generationConfig.maxOutputTokens);
});

it('gemini: MAX_TOKENS once, then the larger budget is enough', async () => {
    fresh({ mode: 'max_tokens', count: 1 });
    const job = await scriptJob('How birds navigate');
    assertReady(job, gemini);
    assert.equal(gemini.requests().length, 2);
});

it('gemini: a slow answer times out and the step is retried', async () => {
    fresh({ mode: 'slow', count: 1 });
    gemini.program({ slow_ms: (TIMEOUT_S + 2) * 1000 });
    const job = await scriptJob('How glaciers move');
    assertReady(job, gemini);
    const reqs = gemini.requests();
    assert.equal(reqs.length, 2);
    assert.ok(reqs[1].at - reqs[0].at >= TIMEOUT_S * 1000 - 100, 'the first request waited for the timeout');
});

it('gemini: a model that never answers times out on every attempt and the job fails saying so', async () => {
    fresh({ mode: 'hang' });
    const job = await scriptJob('How volcanoes sleep');
    assertFailed(job, new RegExp(`^Gemini did not answer in time \\(.*\\(gave up after ${MAX_ATTEMPTS} attempts\\)$`));
    const reqs = gemini.requests();
    assert.equal(reqs.length, MAX_ATTEMPTS, 'one request per attempt');
    for (let i = 1; i < reqs.length; i++) {
        assert.ok(reqs[i].at - reqs[i - 1].at >= TIMEOUT_S * 1000 - 100, 'each request waited for the timeout');
    }
});

// ---- OpenAI-compatible ----

it('openai: a valid answer with a strict json_schema response format', async () => {
    fresh();
    const job = await scriptJob('How coral reefs grow', { script_provider: 'openai' });
    assertReady(job, openai);
    const reqs = openai.requests();
    assert.equal(reqs.length, 1);
    assert.equal(gemini.requests().length, 0);
    assert.equal(reqs[0].headers.authorization, `Bearer ${KEY}`);
    assert.equal(reqs[0].body.model, 'fake-gpt');
    assert.equal(reqs[0].body.response_format.type, 'json_schema');
    assert.equal(reqs[0].body.response_format.json_schema.strict, true);
    assert.deepEqual(reqs[0].body.messages.map((m) => m.role), ['system', 'user']);
    assert.equal(job.usage.provider, 'openai');
    assert.equal(job.usage.model, 'fake-gpt');
    assert.ok(job.usage.prompt_tokens > 0);
});

it('openai: a server that refuses json_schema is asked for json_object', async () => {
    fresh();
    openai.program({ json_schema: false });
    const job = await scriptJob('How clouds float', { script_provider: 'openai' });
    assertReady(job, openai);
    const reqs = openai.requests();
    assert.deepEqual(reqs.map((r) => [r.status, r.body.response_format.type]),
        [[400, 'json_schema'], [200, 'json_object']]);
});

it('openai: a bad key fails at once', async () => {
    fresh();
    openai.program({ key: 'another-key' });
    const job = await scriptJob('How lightning strikes', { script_provider: 'openai' });
    assertFailed(job, /^The OpenAI-compatible server rejected the API key \(HTTP 401\)/);
    assert.equal(openai.requests().length, 1);
});

it('openai: 503 every time fails after max_attempts requests', async () => {
    fresh({ fake: openai, mode: 'unavailable' });
    const job = await scriptJob('How deserts form', { script_provider: 'openai' });
    assertFailed(job, /The OpenAI-compatible server is unavailable \(HTTP 503/);
    assert.equal(openai.requests().length, MAX_ATTEMPTS);
});

it('openai: 429 waits for Retry-After and then succeeds', async () => {
    fresh({ fake: openai, mode: 'rate_limit', count: 1 });
    const job = await scriptJob('How snowflakes form', { script_provider: 'openai' });
    assertReady(job, openai);
    const reqs = openai.requests();
    assert.equal(reqs.length, 2);
    assert.ok(reqs[1].at - reqs[0].at >= 900);
});

it('openai: invalid JSON twice fails with what was wrong', async () => {
    fresh({ fake: openai, mode: 'invalid_json' });
    const job = await scriptJob('How ants build', { script_provider: 'openai' });
    assertFailed(job, /unusable script, and again when asked to fix it: the answer is not valid JSON/);
    const reqs = openai.requests();
    assert.equal(reqs.length, 2);
    assert.deepEqual(reqs[1].body.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
});

it('options: both providers are offered when configured', async () => {
    const r = await stack.api('GET', '/api/options', { token: stack.token });
    assert.equal(r.status, 200);
    const text = JSON.stringify(r.json);
    assert.match(text, /"gemini"/);
    assert.match(text, /"openai"/);
});
