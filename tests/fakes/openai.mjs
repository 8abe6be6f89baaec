// A fake OpenAI-compatible server (POST /v1/chat/completions) for tests: it
// checks the bearer key (when it has one) and the request's shape, and
// answers with OpenAI's body shapes. See common.mjs for the control API.
//
// Modes: valid, invalid_json, bad_schema, rate_limit (429 + Retry-After),
// insufficient_quota (429), unavailable (503), internal (500), bad_key (401),
// refusal, slow (answers after slow_ms).
// Settings: key ("" accepts any or no key, like a local server),
// json_schema (false: refuse response_format json_schema with a 400, as
// servers without structured output do, and accept json_object).
//
// or from a shell: node tests/fakes/openai.mjs --key test-key  (prints the port)

import { fileURLToPath } from 'node:url';
import { startFake, sendJson, requestHints, buildScript, delay, runMain } from './common.mjs';

function openaiError(message, type, param = null, code = null) {
    return { error: { message, type, param, code } };
}

function allText(body) {
    return (body.messages || []).map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
}

function shapeError(body, settings) {
    if (!body || typeof body !== 'object') {
        return openaiError('We could not parse the JSON body of your request.', 'invalid_request_error');
    }
    if (typeof body.model !== 'string' || !body.model) {
        return openaiError('you must provide a model parameter', 'invalid_request_error', 'model');
    }
    if (!Array.isArray(body.messages) || !body.messages.length) {
        return openaiError("Invalid 'messages': empty array.", 'invalid_request_error', 'messages', 'empty_array');
    }
    const rf = body.response_format;
    if (!rf || typeof rf !== 'object') {
        return openaiError('fake: a script request needs response_format', 'invalid_request_error', 'response_format');
    }
    if (rf.type === 'json_schema') {
        if (!settings.json_schema) {
            return openaiError("Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                'invalid_request_error', 'response_format');
        }
        const js = rf.json_schema;
        if (!js || typeof js.name !== 'string' || typeof js.schema !== 'object') {
            return openaiError("Missing required parameter: 'response_format.json_schema'.", 'invalid_request_error',
                'response_format.json_schema', 'missing_required_parameter');
        }
        if (js.strict && js.schema.additionalProperties !== false) {
            return openaiError("Invalid schema for response_format 'script': In context=(), 'additionalProperties' is required to be supplied and to be false.",
                'invalid_request_error', 'response_format', null);
        }
        return null;
    }
    if (rf.type === 'json_object') {
        if (!/json/i.test(allText(body))) {
            return openaiError("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                'invalid_request_error', 'messages');
        }
        return null;
    }
    return openaiError(`Invalid value: '${rf.type}'. Supported values are: 'json_object', 'json_schema', and 'text'.`,
        'invalid_request_error', 'response_format.type', 'invalid_value');
}

function completion(model, text, promptText, finish = 'stop', refusal = null) {
    const p = Math.max(1, Math.ceil(promptText.length / 4));
    const c = text ? Math.ceil(text.length / 4) : 0;
    return {
        id: 'chatcmpl-fake' + Math.random().toString(36).slice(2, 12),
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal },
            logprobs: null, finish_reason: finish }],
        usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c },
    };
}

async function handle(ctx, req, res, body, entry) {
    const s = ctx.settings;
    const path = req.url.split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
        entry.status = 404;
        sendJson(res, 404, openaiError(`Invalid URL (${req.method} ${path})`, 'invalid_request_error'));
        return;
    }
    const reply = (status, obj, headers) => { entry.status = status; sendJson(res, status, obj, headers); };
    if (s.key) {
        const auth = req.headers.authorization || '';
        const m = /^Bearer (.+)$/.exec(auth);
        if (!m) {
            return reply(401, openaiError("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                'invalid_request_error'));
        }
        if (m[1] !== s.key) {
            return reply(401, openaiError('Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
                'invalid_request_error', null, 'invalid_api_key'));
        }
    }
    const bad = shapeError(body, s);
    if (bad) return reply(400, bad);

    const mode = ctx.nextMode();
    entry.mode = mode;
    const prompt = allText(body);
    switch (mode) {
    case 'rate_limit':
        return reply(429, openaiError('Rate limit reached for requests per min. Please try again in 1s.',
            'requests', null, 'rate_limit_exceeded'), { 'retry-after': String(parseFloat(s.retry_delay) || 1) });
    case 'insufficient_quota':
        return reply(429, openaiError('You exceeded your current quota, please check your plan and billing details.',
            'insufficient_quota', null, 'insufficient_quota'));
    case 'unavailable':
        return reply(503, openaiError('The server is overloaded or not ready yet.', 'server_error'));
    case 'internal':
        return reply(500, openaiError('The server had an error while processing your request. Sorry about that!', 'server_error'));
    case 'bad_key':
        return reply(401, openaiError('Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
            'invalid_request_error', null, 'invalid_api_key'));
    case 'refusal':
        return reply(200, completion(body.model, null, prompt, 'stop', "I'm sorry, I can't help with that."));
    case 'slow':
        await delay(s.slow_ms);
        if (res.destroyed || req.socket.destroyed) { entry.status = 'client gone'; return; }
        break;
    default:
        break;
    }

    let text;
    if (mode === 'invalid_json') {
        text = 'Sure! Here is your script: {"title": "A script that stops", "scenes": [';
    } else if (mode === 'bad_schema') {
        text = JSON.stringify({ title: '', scenes: [{ narration: '' }], hashtags: [], description: '' });
    } else {
        let schema = body.response_format.json_schema && body.response_format.json_schema.schema;
        if (!schema) {
            // json_object mode: the schema is spelled out in the system message.
            const m = /JSON Schema: (\{.*\})\s*$/m.exec(prompt);
            try { schema = m ? JSON.parse(m[1]) : null; } catch { schema = null; }
        }
        const script = buildScript(requestHints(prompt, schema));
        text = JSON.stringify(script);
        // Local models like to wrap JSON in a Markdown fence.
        if (body.response_format.type === 'json_object') text = '```json\n' + text + '\n```';
        entry.script = script;
    }
    entry.answer = text;
    return reply(200, completion(body.model, text, prompt));
}

export function startFakeOpenAI({ key = 'test-key', port = 0 } = {}) {
    return startFake({ name: 'openai', port, handler: handle,
        defaults: { key, json_schema: true, retry_delay: '1s', slow_ms: 5000 } });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    runMain(startFakeOpenAI, process.argv.slice(2));
}
