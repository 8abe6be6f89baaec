// A fake Gemini API (generateContent, v1beta) for tests: it checks the key
// header and the request's shape as the real service does and answers with
// real-shaped bodies (PROTOCOLS §1). See common.mjs for the control API.
//
// Modes: valid, invalid_json, bad_schema, rate_limit (429 + RetryInfo),
// daily_quota (429, a PerDay quota), unavailable (503), internal (500),
// bad_key (400 API_KEY_INVALID), blocked (promptFeedback.blockReason),
// max_tokens (MAX_TOKENS, no parts), slow (answers after slow_ms), hang (takes
// the request and never answers).
// A request with responseModalities ["AUDIO"] is answered with speech: a
// tone as audio/L16;codec=pcm;rate=24000.
//
//   import { startFakeGemini } from '../fakes/gemini.mjs';
//   const fake = await startFakeGemini({ key: 'test-key' });
//   fake.program({ mode: 'unavailable', count: 1 });
//
// or from a shell: node tests/fakes/gemini.mjs --key test-key  (prints the port)

import { fileURLToPath } from 'node:url';
import { startFake, sendJson, requestHints, buildScript, tonePcmBase64, textWords, delay,
    runMain } from './common.mjs';

function googleError(code, status, message, details) {
    const error = { code, message, status };
    if (details) error.details = details;
    return { error };
}

const NO_KEY = googleError(403, 'PERMISSION_DENIED',
    "Method doesn't allow unregistered callers (callers without established identity). "
    + 'Please use API Key or other form of API consumer identity to call this API.');

const BAD_KEY = googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID',
        domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
    { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US',
        message: 'API key not valid. Please pass a valid API key.' },
]);

function quotaError(model, retryDelay, perDay) {
    const quotaId = perDay ? 'GenerateRequestsPerDayPerProjectPerModel-FreeTier'
        : 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier';
    return googleError(429, 'RESOURCE_EXHAUSTED',
        `You exceeded your current quota, please check your plan and billing details. Please retry in ${retryDelay}.`, [
            { '@type': 'type.googleapis.com/google.rpc.Help', links: [{
                description: 'Learn more about Gemini API quotas',
                url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
            { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{
                quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                quotaId, quotaDimensions: { model, location: 'global' }, quotaValue: perDay ? '50' : '10' }] },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
        ]);
}

function allText(body) {
    const out = [];
    const push = (c) => {
        for (const p of (c && c.parts) || []) if (typeof p.text === 'string') out.push(p.text);
    };
    push(body.systemInstruction);
    for (const c of body.contents || []) push(c);
    return out.join('\n');
}

function tokens(text) {
    return Math.max(1, Math.ceil(text.length / 4));
}

function usage(promptText, answerText, thoughts = 0) {
    const p = tokens(promptText);
    const c = answerText ? tokens(answerText) : 0;
    const u = { promptTokenCount: p, candidatesTokenCount: c, totalTokenCount: p + c + thoughts,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: p }] };
    if (thoughts) u.thoughtsTokenCount = thoughts;
    return u;
}

function textAnswer(model, promptText, text) {
    return {
        candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: usage(promptText, text),
        modelVersion: model,
        responseId: 'fake-' + Math.random().toString(36).slice(2, 12),
    };
}

// Checks the body as the real API would; returns an error body or null.
function shapeError(body) {
    if (!body || typeof body !== 'object') {
        return googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (!Array.isArray(body.contents) || !body.contents.length
        || body.contents.some((c) => !c || !Array.isArray(c.parts) || !c.parts.length)) {
        return googleError(400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
    }
    const g = body.generationConfig || {};
    const audio = Array.isArray(g.responseModalities) && g.responseModalities.includes('AUDIO');
    if (audio) return null;
    if (g.responseJsonSchema !== undefined && g.responseSchema !== undefined) {
        return googleError(400, 'INVALID_ARGUMENT', 'responseSchema and responseJsonSchema cannot both be set.');
    }
    if (g.responseJsonSchema !== undefined && g.responseMimeType !== 'application/json') {
        return googleError(400, 'INVALID_ARGUMENT',
            'responseMimeType must be application/json when responseJsonSchema is set.');
    }
    // The writer must ask for JSON in the script's shape.
    if (g.responseMimeType !== 'application/json' || typeof g.responseJsonSchema !== 'object'
        || g.responseJsonSchema === null) {
        return googleError(400, 'INVALID_ARGUMENT',
            'fake: a script request needs responseMimeType application/json and responseJsonSchema');
    }
    return null;
}

async function handle(ctx, req, res, body, entry) {
    const s = ctx.settings;
    const m = /^\/v1beta\/models\/([^/:]+):generateContent(?:\?.*)?$/.exec(req.url);
    if (req.method !== 'POST' || !m) {
        entry.status = 404;
        sendJson(res, 404, googleError(404, 'NOT_FOUND', `fake: no route ${req.method} ${req.url}`));
        return;
    }
    const model = decodeURIComponent(m[1]);
    const queryKey = new URL(req.url, 'http://x').searchParams.get('key');
    const key = req.headers['x-goog-api-key'] ?? queryKey;
    if (key === undefined || key === null || key === '') {
        entry.status = 403;
        sendJson(res, 403, NO_KEY);
        return;
    }
    if (key !== s.key) {
        entry.status = 400;
        sendJson(res, 400, BAD_KEY);
        return;
    }
    const bad = shapeError(body);
    if (bad) {
        entry.status = 400;
        sendJson(res, 400, bad);
        return;
    }
    const mode = ctx.nextMode();
    entry.mode = mode;
    const prompt = allText(body);
    const g = body.generationConfig || {};
    const audio = Array.isArray(g.responseModalities) && g.responseModalities.includes('AUDIO');
    const reply = (status, obj, headers) => { entry.status = status; sendJson(res, status, obj, headers); };

    switch (mode) {
    case 'rate_limit':
        return reply(429, quotaError(model, s.retry_delay, false));
    case 'daily_quota':
        return reply(429, quotaError(model, s.retry_delay, true));
    case 'unavailable':
        return reply(503, googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'));
    case 'internal':
        return reply(500, googleError(500, 'INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'));
    case 'bad_key':
        return reply(400, BAD_KEY);
    case 'blocked':
        return reply(200, { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
            usageMetadata: usage(prompt, ''), modelVersion: model });
    case 'max_tokens':
        return reply(200, {
            candidates: [{ content: { role: 'model' }, finishReason: 'MAX_TOKENS', index: 0 }],
            usageMetadata: usage(prompt, '', g.maxOutputTokens || 8192), modelVersion: model });
    case 'hang':
        // No answer and no timer: the socket stays open until the client gives up.
        entry.status = 'held';
        return;
    case 'slow':
        await delay(s.slow_ms);
        if (res.destroyed || req.socket.destroyed) { entry.status = 'client gone'; return; }
        break;
    default:
        break;
    }

    if (audio) {
        const seconds = Math.min(60, Math.max(1, textWords(prompt) * 0.4));
        const data = tonePcmBase64(seconds);
        const audioTokens = Math.round(seconds * 25);
        const u = usage(prompt, '');
        return reply(200, {
            candidates: [{ content: { role: 'model', parts: [{ inlineData: {
                mimeType: 'audio/L16;codec=pcm;rate=24000', data } }] }, finishReason: 'STOP', index: 0 }],
            usageMetadata: { ...u, candidatesTokenCount: audioTokens,
                totalTokenCount: u.promptTokenCount + audioTokens,
                candidatesTokensDetails: [{ modality: 'AUDIO', tokenCount: audioTokens }] },
            modelVersion: model,
        });
    }

    let text;
    if (mode === 'invalid_json') {
        text = '{"title": "A script that stops", "scenes": [{"narration": "It starts well but';
    } else if (mode === 'bad_schema') {
        text = JSON.stringify({ title: 'Nothing to say', scenes: [], hashtags: ['no tags'], description: '' });
    } else {
        const script = buildScript(requestHints(prompt, g.responseJsonSchema));
        text = JSON.stringify(script);
        entry.script = script;
    }
    entry.answer = text;
    return reply(200, textAnswer(model, prompt, text));
}

export function startFakeGemini({ key = 'test-key', port = 0 } = {}) {
    return startFake({ name: 'gemini', port, handler: handle,
        defaults: { key, retry_delay: '1s', slow_ms: 5000 } });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    runMain(startFakeGemini, process.argv.slice(2));
}
