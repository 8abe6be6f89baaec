// The renderer through the real stack: a job spoken by Gemini TTS (the fake
// Gemini answers with PCM speech) reaches COMPLETED with the voice the job
// asked for; a 429 is retried after its RetryInfo delay; a refused key fails
// the render step with a message that says so. A media library of a
// generated picture and clip is configured, so scenes whose keywords name
// them ("ocean") render over them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack } from './harness.mjs';
import { startFakeGemini } from '../fakes/gemini.mjs';

const KEY = 'test-key-render';
let stack;
let gemini;
let mediaDir;

before(async () => {
    gemini = await startFakeGemini({ key: KEY });
    // A media library made here: a picture and a short clip, named for keywords.
    mediaDir = mkdtempSync(join(tmpdir(), 'vf-media-'));
    const ff = (args) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
    ff(['-f', 'lavfi', '-i', 'testsrc2=s=640x360', '-frames:v', '1', join(mediaDir, 'ocean-waves.jpg')]);
    ff(['-f', 'lavfi', '-i', 'testsrc=s=320x180:r=25:d=1', '-c:v', 'mpeg4', join(mediaDir, 'city-lights.mp4')]);
    stack = await startStack({
        VF_X264_PRESET: 'ultrafast',
        VF_GEMINI_API_KEY: KEY,
        VF_GEMINI_BASE_URL: gemini.url,
        VF_GEMINI_TTS_MODEL: 'gemini-2.5-flash-preview-tts',
        VF_MEDIA_DIR: mediaDir,
    });
}, { timeout: 320_000 });

after(async () => {
    if (stack) await stack.stop();
    if (gemini) await gemini.close();
    if (mediaDir) rmSync(mediaDir, { recursive: true, force: true });
}, { timeout: 130_000 });

function ttsRequests() {
    return gemini.requests().filter((r) => r.body && r.body.generationConfig
        && (r.body.generationConfig.responseModalities || []).includes('AUDIO'));
}

async function submit(options) {
    const r = await stack.api('POST', '/api/jobs/generate', { token: stack.token,
        body: { topic: 'why the ocean is salty', options: { duration_s: 15, resolution: 720, ...options } } });
    assert.equal(r.status, 202, r.text);
    return r.json.job.id;
}

test('a gemini-voiced job completes with Gemini speech in the video', { timeout: 240_000 }, async () => {
    gemini.reset();
    const id = await submit({ tts: 'gemini', voice: 'Puck' });
    const job = await stack.waitForState(id, ['COMPLETED', 'FAILED'], 200_000);
    assert.equal(job.state, 'COMPLETED', JSON.stringify(job.error));

    const tts = ttsRequests();
    assert.ok(tts.length >= 2, `one TTS request per scene, got ${tts.length}`);
    for (const r of tts) {
        assert.equal(r.headers['x-goog-api-key'], KEY);
        assert.match(r.path, /^\/v1beta\/models\/gemini-2\.5-flash-preview-tts:generateContent$/);
        assert.equal(r.body.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName, 'Puck');
        assert.equal(r.status, 200);
    }
    const probe = await stack.ffprobe(stack.jobFile(id, 'video.mp4'));
    const video = probe.streams.find((s) => s.codec_type === 'video');
    const audio = probe.streams.find((s) => s.codec_type === 'audio');
    assert.equal(video.width, 720);
    assert.equal(video.height, 1280);
    assert.equal(audio.codec_name, 'aac');
    assert.equal(Number(audio.sample_rate), 48000);
    // the fake speaks 0.4 s per word, each scene at least a second
    assert.ok(Number(probe.format.duration) >= tts.length, `duration ${probe.format.duration}`);
    const srt = readFileSync(stack.jobFile(id, 'captions.srt'), 'utf8');
    assert.match(srt, /^1\n00:00:0\d,\d{3} --> /);
});

test('Gemini TTS at its quota: retried after the RetryInfo delay, then completes', { timeout: 240_000 }, async () => {
    gemini.reset();
    gemini.program({ mode: 'rate_limit', count: 1, retry_delay: '1s' });
    const id = await submit({ tts: 'gemini' });
    const job = await stack.waitForState(id, ['COMPLETED', 'FAILED'], 200_000);
    assert.equal(job.state, 'COMPLETED', JSON.stringify(job.error));
    const statuses = ttsRequests().map((r) => r.status);
    assert.equal(statuses[0], 429, statuses.join(','));
    assert.ok(statuses.slice(1).every((s) => s === 200), statuses.join(','));
    // the default voice when the job's voice is an espeak one
    assert.equal(ttsRequests().at(-1).body.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName, 'Kore');
});

test('a key Gemini refuses fails the render step and says so', { timeout: 240_000 }, async () => {
    gemini.reset();
    gemini.program({ mode: 'bad_key' });
    const id = await submit({ tts: 'gemini' });
    const job = await stack.waitForState(id, ['COMPLETED', 'FAILED'], 200_000);
    assert.equal(job.state, 'FAILED');
    assert.equal(job.error.step, 'render');
    assert.match(job.error.message, /Gemini rejected the API key/);
    assert.ok(!job.error.message.includes(KEY), 'the key is not in the message');
    assert.equal(ttsRequests().length, 1, 'a refused key is not retried');
    gemini.reset();
});
