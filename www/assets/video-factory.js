// /dashboard/video-factory: start a job, follow it live, review, finish.
import { get, post, put, del, sentence, withBusy } from '/assets/api.js';
import { JobHistory, setBadge } from '/assets/history.js';
import { LiveStream } from '/assets/live.js';
import { OptionsForm } from '/assets/options.js';
import { ScriptEditor } from '/assets/script-editor.js';
import {
  renderStepper, renderProgress, TERMINAL, RUNNING, stoppedStep, stepLabel,
} from '/assets/stepper.js';

const $ = (id) => document.getElementById(id);

const TOPIC_MIN = 3;
const TOPIC_MAX = 200;
const LOG_MAX = 200;
const STREAM_LINGER_MS = 5000;
const MEDIA = ['video.mp4', 'thumb.jpg', 'captions.srt', 'captions.vtt', 'script.json'];

const options = new OptionsForm();
const editor = new ScriptEditor($('script-editor'));

// The job shown in the production panel.
const view = {
  id: null,
  job: null,
  stream: null,          // LiveStream of the job
  lastEventId: null,     // where a new stream of the same job resumes
  streamEnded: false,    // the stream brought a final state
  storyShown: false,     // a stream of this job ran (a finished job's replays its activity)
  endTimer: null,
  refreshing: null,      // the GET in flight, if any
  refreshAgain: false,
  tick: null,
};

// ---------------------------------------------------------------- helpers

function chars(s) {
  return [...s].length;
}

function goLogin() {
  window.location.replace('/login');
}

// A 401 anywhere means the session is gone: back to the login page.
function authGone(err) {
  if (err && err.status === 401) {
    goLogin();
    return true;
  }
  return false;
}

function showMessage(node, message) {
  node.textContent = message || '';
  node.hidden = !message;
}

function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function parseTime(s) {
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function formatBytes(n) {
  if (!Number.isFinite(n) || n <= 0) return '';
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

function mediaUrl(id, file) {
  return `/api/jobs/${encodeURIComponent(id)}/media/${file}`;
}

// ---------------------------------------------------------------- topic + form

const form = $('job-form');
const topic = $('topic');
const topicCount = $('topic-count');
const submit = $('submit');
const formError = $('form-error');

function updateTopicCount() {
  const n = chars(topic.value.trim());
  topicCount.textContent = `${n} / ${TOPIC_MAX}`;
  topicCount.classList.toggle('is-over', n > TOPIC_MAX);
}

function setTopicError(message) {
  $('topic-error').textContent = message;
  if (message) topic.setAttribute('aria-invalid', 'true');
  else topic.removeAttribute('aria-invalid');
}

function topicProblem() {
  const n = chars(topic.value.trim());
  if (n === 0) return 'Enter a topic for the video.';
  if (n < TOPIC_MIN) return `Make the topic at least ${TOPIC_MIN} characters.`;
  if (n > TOPIC_MAX) return `Keep the topic to ${TOPIC_MAX} characters (now ${n}).`;
  return '';
}

function mode() {
  return form.elements.mode.value === 'step' ? 'step' : 'full';
}

function syncMode() {
  const step = mode() === 'step';
  $('mode-hint').textContent = step
    ? 'Writes the script first; you review it, render, then finalize.'
    : 'Script, video and finalize run one after another.';
  submit.textContent = step ? 'Write script' : 'Generate video';
}

function clearFormErrors() {
  setTopicError('');
  options.clearErrors();
  showMessage(formError, '');
}

// Puts a server error next to the field it names; returns the control.
function showFieldError(field, message) {
  if (field === 'topic') {
    setTopicError(message);
    return topic;
  }
  const control = OptionsForm.controlForField(field);
  if (!control) return null;
  options.setError(control.id.slice(4), message);
  $('options').open = true;
  return control;
}

async function onSubmit(event) {
  event.preventDefault();
  clearFormErrors();

  let first = null;
  const tp = topicProblem();
  if (tp) {
    setTopicError(tp);
    first = topic;
  }
  if (options.ready) {
    for (const p of options.validate()) {
      options.setError(p.key, p.message);
      if (!first) {
        $('options').open = true;
        first = $('opt-' + p.key);
      }
    }
  }
  if (first) {
    first.focus();
    return;
  }

  const body = { topic: topic.value.trim() };
  if (options.ready) body.options = options.value();
  const path = mode() === 'step' ? '/api/jobs/step-script' : '/api/jobs/generate';

  await withBusy(submit, async () => {
    try {
      const res = await post(path, body);
      selectJob(res.job.id, res.job);
      jobHistory.reload();
      if (window.matchMedia('(max-width: 959px)').matches) {
        $('production-title').scrollIntoView({ behavior: 'smooth', block: 'start' });
      }
    } catch (err) {
      if (authGone(err)) return;
      let focus = null;
      const general = [];
      if (err.field) {
        focus = showFieldError(err.field, err.message);
        if (!focus) general.push(err.message);
      }
      for (const f of err.fields || []) {
        const c = showFieldError(f.field, f.message);
        if (c) focus = focus || c;
        else general.push(f.field ? `${f.field}: ${f.message}` : f.message);
      }
      if (!err.field && !err.fields) general.push(err.message);
      showMessage(formError, general.join(' '));
      (focus || formError).focus?.();
    }
  });
}

// ---------------------------------------------------------------- production panel

const els = {
  empty: $('production-empty'),
  job: $('job'),
  badge: $('job-badge'),
  topic: $('job-topic'),
  id: $('job-id'),
  mode: $('job-mode'),
  elapsed: $('job-elapsed'),
  live: $('job-live'),
  stepper: $('stepper'),
  failure: $('failure'),
  failureTitle: $('failure-title'),
  failureMessage: $('failure-message'),
  actionError: $('action-error'),
  retry: $('btn-retry'),
  render: $('btn-render'),
  finalize: $('btn-finalize'),
  cancel: $('btn-cancel'),
  delete: $('btn-delete'),
  scriptEditor: $('script-editor'),
  scriptView: $('script-view'),
  player: $('player'),
  playerFrame: $('player-frame'),
  downloads: $('downloads'),
  log: $('log-lines'),
  progress: {
    block: $('progress-block'),
    step: $('progress-step'),
    percent: $('progress-percent'),
    bar: $('progress'),
    fill: $('progress-fill'),
    message: $('progress-message'),
  },
};

function updateElapsed() {
  const job = view.job;
  if (!job) return;
  const start = parseTime(job.created_at);
  if (start === null) {
    els.elapsed.textContent = '–';
    return;
  }
  const end = TERMINAL.has(job.state) ? (parseTime(job.updated_at) ?? Date.now()) : Date.now();
  els.elapsed.textContent = formatDuration(end - start);
}

function renderJob() {
  const job = view.job;
  els.empty.hidden = !!job;
  els.job.hidden = !job;
  els.badge.hidden = !job;
  if (!job) return;

  setBadge(els.badge, job.state);
  els.topic.textContent = job.topic || '';
  els.id.textContent = `Job #${job.id}`;
  els.mode.textContent = job.mode === 'semi' ? 'Step-by-Step' : 'Full Auto';
  updateElapsed();

  renderStepper(els.stepper, job);
  renderProgress(job, els.progress);

  // Failure or cancellation notice.
  if (job.state === 'FAILED') {
    els.failure.hidden = false;
    els.failure.dataset.kind = 'failed';
    els.failureTitle.textContent = `${stepLabel(stoppedStep(job))} step failed`;
    els.failureMessage.textContent = sentence(job.error?.message) || 'The step failed without a message.';
  } else if (job.state === 'CANCELLED') {
    els.failure.hidden = false;
    els.failure.dataset.kind = 'cancelled';
    els.failureTitle.textContent = 'Cancelled';
    els.failureMessage.textContent = `The job was cancelled during the ${stepLabel(stoppedStep(job)).toLowerCase()} step.`;
  } else {
    els.failure.hidden = true;
  }

  els.retry.hidden = job.state !== 'FAILED';
  els.render.hidden = job.state !== 'SCRIPT_READY';
  els.finalize.hidden = job.state !== 'VIDEO_READY';
  els.cancel.hidden = TERMINAL.has(job.state);
  if (els.cancel.hidden) disarm(els.cancel);
  // A worker holds a running job; the API wants it cancelled first.
  els.delete.hidden = RUNNING.has(job.state);
  if (els.delete.hidden) disarm(els.delete);

  // Script: editable while waiting for review, read-only afterwards.
  const hasScript = job.script && Array.isArray(job.script.scenes);
  if (job.state === 'SCRIPT_READY' && hasScript) {
    editor.load(job.id, job.script);
    els.scriptEditor.hidden = false;
  } else {
    els.scriptEditor.hidden = true;
  }
  els.scriptView.hidden = !(hasScript && job.state !== 'SCRIPT_READY');
  if (!els.scriptView.hidden) renderScriptView(job.script);

  // Video: in review and when done.
  const showVideo = job.state === 'VIDEO_READY' || job.state === 'COMPLETED';
  els.player.hidden = !showVideo;
  if (showVideo) renderPlayer(job);
  else els.playerFrame.replaceChildren();

  els.live.hidden = !view.stream || TERMINAL.has(job.state);
}

function renderScriptView(script) {
  $('script-view-heading').textContent = script.title || '';
  const list = $('script-view-scenes');
  list.replaceChildren();
  for (const scene of script.scenes) {
    const li = document.createElement('li');
    const narration = document.createElement('p');
    narration.textContent = scene.narration || '';
    li.append(narration);
    const keywords = Array.isArray(scene.visual?.keywords) ? scene.visual.keywords.join(', ') : '';
    const extra = [scene.caption ? `Caption: ${scene.caption}` : '', keywords ? `Keywords: ${keywords}` : '']
      .filter(Boolean).join(' · ');
    if (extra) {
      const meta = document.createElement('p');
      meta.className = 'script-view-meta';
      meta.textContent = extra;
      li.append(meta);
    }
    list.append(li);
  }
}

function renderPlayer(job) {
  const src = mediaUrl(job.id, 'video.mp4');
  const poster = mediaUrl(job.id, 'thumb.jpg');
  let video = els.playerFrame.querySelector('video');
  // Keep the element (and its playback position) across refreshes.
  if (!video || video.dataset.src !== src) {
    video = document.createElement('video');
    video.controls = true;
    video.preload = 'metadata';
    video.playsInline = true;
    video.poster = poster;
    video.src = src;
    video.dataset.src = src;
    video.setAttribute('aria-label', `Video: ${job.script?.title || job.topic || 'job ' + job.id}`);
    els.playerFrame.replaceChildren(video);
  }
  const v = job.video || {};
  const aspect = v.width && v.height ? v.width / v.height : aspectOf(job.options?.aspect);
  els.playerFrame.dataset.shape = aspect > 1.2 ? 'wide' : aspect < 0.85 ? 'tall' : 'square';

  els.downloads.replaceChildren();
  if (job.state !== 'COMPLETED') return;
  const items = [
    ['MP4 video', 'video.mp4', [v.width && v.height ? `${v.width}×${v.height}` : '', formatBytes(v.size_bytes)]],
    ['SRT captions', 'captions.srt', []],
    ['VTT captions', 'captions.vtt', []],
    ['Script JSON', 'script.json', []],
    ['Thumbnail', 'thumb.jpg', []],
  ];
  for (const [label, file, meta] of items) {
    if (!MEDIA.includes(file)) continue;
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.className = 'download';
    a.href = mediaUrl(job.id, file);
    a.download = `video-factory-${job.id}-${file}`;
    const name = document.createElement('span');
    name.className = 'download-name';
    name.textContent = label;
    a.append(name);
    const extra = meta.filter(Boolean).join(' · ');
    if (extra) {
      const m = document.createElement('span');
      m.className = 'download-meta';
      m.textContent = extra;
      a.append(m);
    }
    li.append(a);
    els.downloads.append(li);
  }
}

function aspectOf(s) {
  const m = /^(\d+):(\d+)$/.exec(s || '');
  return m ? Number(m[1]) / Number(m[2]) : 9 / 16;
}

function appendLog(level, message, at) {
  const li = document.createElement('li');
  li.dataset.level = level || 'info';
  const time = document.createElement('time');
  const t = at ? parseTime(at) : Date.now();
  time.textContent = t ? timeFmt.format(new Date(t)) : '';
  const text = document.createElement('span');
  text.textContent = message;
  li.append(time, text);
  els.log.append(li);
  while (els.log.childElementCount > LOG_MAX) els.log.firstElementChild.remove();
}

// ---------------------------------------------------------------- live updates

function showLive(node, status) {
  node.hidden = status === 'closed';
  node.textContent = status === 'live' ? 'Live' : 'Reconnecting…';
  node.dataset.status = status === 'live' ? 'live' : 'lost';
}

function closeStream() {
  clearTimeout(view.endTimer);
  view.endTimer = null;
  if (view.stream?.lastEventId) view.lastEventId = view.stream.lastEventId;
  view.stream?.stop();
  view.stream = null;
  els.live.hidden = true;
}

function openStream() {
  closeStream();
  const id = view.id;
  const mine = (data) => view.id === id && (data.job_id === undefined || String(data.job_id) === String(id));
  const stream = new LiveStream(`/api/jobs/${encodeURIComponent(id)}/events`, {
    handlers: {
      state(data) {
        if (!mine(data) || !view.job) return;
        // The stream may be replaying older states: the job itself is
        // reloaded rather than set back to them.
        if (TERMINAL.has(data.state) && (data.state === view.job.state || !TERMINAL.has(view.job.state))) {
          view.streamEnded = true;
        }
        refreshJob();
      },
      progress(data) {
        if (!mine(data) || !view.job) return;
        view.job.progress = { step: data.step, percent: data.percent, message: data.message };
        renderProgress(view.job, els.progress);
      },
      log(data) {
        if (!mine(data)) return;
        appendLog(data.level, String(data.message ?? ''), data.at);
      },
    },
    onStatus(status) {
      if (view.stream === stream) showLive(els.live, TERMINAL.has(view.job?.state) ? 'closed' : status);
    },
    // Without an event id the job's stream replays its whole story.
    onResume() {
      if (view.stream === stream) els.log.replaceChildren();
    },
    onRefused() {
      if (view.stream !== stream) return;
      get('/api/auth/me').catch((err) => authGone(err));
      refreshJob();
    },
  });
  view.stream = stream;
  view.streamEnded = false;
  view.storyShown = true;
  // A job picked up again (a retry, a render) goes on from the events shown.
  stream.start(view.lastEventId);
}

// Reloads the shown job; calls made while one is in flight collapse into one more.
async function refreshJob() {
  if (view.refreshing) {
    view.refreshAgain = true;
    return view.refreshing;
  }
  const id = view.id;
  view.refreshing = (async () => {
    try {
      const res = await get(`/api/jobs/${encodeURIComponent(id)}`);
      if (view.id !== id) return;
      view.job = res.job;
      renderJob();
      syncStream();
    } catch (err) {
      if (authGone(err) || view.id !== id) return;
      if (err.status === 404) {
        showMessage(els.actionError, 'This job no longer exists.');
        closeStream();
      }
    }
  })();
  try {
    await view.refreshing;
  } finally {
    view.refreshing = null;
  }
  if (view.refreshAgain) {
    view.refreshAgain = false;
    await refreshJob();
  }
}

// A stream while the job can still change; none once it is finished.
function syncStream() {
  const job = view.job;
  if (!job) return;
  if (TERMINAL.has(job.state)) {
    // A reload can see the end before the stream has brought the last
    // events; the stream closes on its own final state event, or soon.
    if (!view.stream && !view.storyShown) openStream();
    else if (!view.stream || view.streamEnded) closeStream();
    else if (!view.endTimer) view.endTimer = setTimeout(closeStream, STREAM_LINGER_MS);
  } else if (!view.stream) {
    openStream();
  }
  clearInterval(view.tick);
  view.tick = TERMINAL.has(job.state) ? null : setInterval(updateElapsed, 1000);
}

async function selectJob(id, job) {
  if (view.id !== id) {
    closeStream();
    view.id = id;
    view.lastEventId = null;
    view.storyShown = false;
    els.log.replaceChildren();
    showMessage(els.actionError, '');
    disarm(els.cancel);
    disarm(els.delete);
    window.history.replaceState(null, '', `#job=${id}`);
  }
  jobHistory.markSelected(id);
  if (job) {
    view.job = job;
    renderJob();
    syncStream();
  } else {
    view.job = null;
    els.empty.hidden = true;
    await refreshJob();
    if (!view.job) {
      els.empty.hidden = false;
      showMessage(els.actionError, '');
    }
  }
}

// ---------------------------------------------------------------- job actions

async function jobAction(button, path, body, method = post) {
  const id = view.id;
  showMessage(els.actionError, '');
  await withBusy(button, async () => {
    try {
      const res = await method(path, body);
      if (view.id === id && res && res.job) {
        view.job = res.job;
        renderJob();
        syncStream();
      }
    } catch (err) {
      if (authGone(err)) return;
      showMessage(els.actionError, err.message);
      if (err.code === 'wrong_state' || err.status === 404) refreshJob();
      throw err;
    }
  }).catch(() => {});
}

// Saves unsaved edits; resolves to false when the server refused the script.
async function saveScript(button) {
  const bad = editor.validate();
  if (bad) {
    bad.focus();
    return false;
  }
  const id = view.id;
  try {
    await withBusy(button, async () => {
      const res = await put(`/api/jobs/${encodeURIComponent(id)}/script`, { script: editor.value() });
      if (view.id === id && res && res.job) {
        view.job = res.job;
        editor.load(id, res.job.script, { force: true });
        renderJob();
      }
    });
    return true;
  } catch (err) {
    if (authGone(err)) return false;
    if (err.code === 'invalid_script' || err.fields) {
      editor.showServerErrors(err.fields, err.message)?.focus();
    } else {
      editor.showGeneral(err.message);
      if (err.code === 'wrong_state') refreshJob();
    }
    return false;
  }
}

$('script-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  showMessage(els.actionError, '');
  if (await saveScript($('btn-save-script'))) {
    editor.showGeneral('');
  }
});

els.render.addEventListener('click', async () => {
  if (editor.dirty) {
    els.render.disabled = true;
    const saved = await saveScript($('btn-save-script'));
    els.render.disabled = false;
    if (!saved) return;
  }
  await jobAction(els.render, `/api/jobs/${encodeURIComponent(view.id)}/step-video`);
});

els.finalize.addEventListener('click', () =>
  jobAction(els.finalize, `/api/jobs/${encodeURIComponent(view.id)}/step-finalize`));

els.retry.addEventListener('click', () =>
  jobAction(els.retry, `/api/jobs/${encodeURIComponent(view.id)}/retry`));

// Cancel and Delete ask once more on the same button, so one stray click
// does not throw away a render.
const ARM_LABEL = { 'btn-cancel': ['Cancel job', 'Confirm cancel'], 'btn-delete': ['Delete job', 'Confirm delete'] };
const armed = new Map();

function disarm(button) {
  clearTimeout(armed.get(button));
  armed.delete(button);
  button.textContent = ARM_LABEL[button.id][0];
  button.classList.remove('is-armed');
}

// True when this click confirms; false when it only armed the button.
function confirmClick(button) {
  if (armed.has(button)) {
    disarm(button);
    return true;
  }
  button.textContent = ARM_LABEL[button.id][1];
  button.classList.add('is-armed');
  armed.set(button, setTimeout(() => disarm(button), 4000));
  return false;
}

els.cancel.addEventListener('click', async () => {
  if (!confirmClick(els.cancel)) return;
  await jobAction(els.cancel, `/api/jobs/${encodeURIComponent(view.id)}/cancel`);
});

els.delete.addEventListener('click', async () => {
  if (!confirmClick(els.delete)) return;
  const id = view.id;
  showMessage(els.actionError, '');
  await withBusy(els.delete, async () => {
    try {
      await del(`/api/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      if (authGone(err)) return;
      if (err.status !== 404) {
        showMessage(els.actionError, err.message);
        if (err.status === 409) refreshJob();
        return;
      }
    }
    jobHistory.remove(id);
    if (view.id === id) clearJob(`Job #${id} was deleted.`);
  });
});

// Empties the production panel (after a delete).
function clearJob(note) {
  closeStream();
  clearInterval(view.tick);
  view.tick = null;
  view.id = null;
  view.lastEventId = null;
  view.job = null;
  renderJob();
  $('production-empty-hint').textContent = note
    || 'Start a video, or pick one from the job history.';
  window.history.replaceState(null, '', window.location.pathname);
  jobHistory.markSelected(null);
  els.empty.focus();
}

// ---------------------------------------------------------------- job history

const jobHistory = new JobHistory({
  list: $('history-list'),
  status: $('history-status'),
  filter: $('history-state'),
  newer: $('history-newer'),
  older: $('history-older'),
  page: $('history-page'),
  refresh: $('history-refresh'),
}, {
  onSelect(id) {
    selectJob(id);
    if (window.matchMedia('(max-width: 959px)').matches) {
      $('production-title').scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  },
  onError: authGone,
});

// Every job's state changes, for the badges.
const allJobs = new LiveStream('/api/events', {
  handlers: { state: (data) => jobHistory.onState(data) },
  onStatus: (status) => showLive($('history-live'), status),
  // Resumed without an event id: what happened meanwhile is only in the list.
  onResume: () => jobHistory.reload(),
  onRefused: () => {
    get('/api/auth/me').catch((err) => authGone(err));
  },
});

// ---------------------------------------------------------------- start

async function loadOptions() {
  const status = $('options-status');
  try {
    const catalog = await get('/api/options');
    options.load(catalog || {});
    options.ready = true;
    status.hidden = true;
    $('options-grid').hidden = false;
    const syncSummary = () => { $('options-summary').textContent = options.summary(); };
    $('options-grid').addEventListener('change', syncSummary);
    $('options-grid').addEventListener('input', syncSummary);
    syncSummary();
  } catch (err) {
    if (authGone(err)) return;
    status.textContent = `Options could not be loaded (${err.message}). Jobs use the server's defaults.`;
  }
}

function jobFromHash() {
  const m = /^#job=(\d+)$/.exec(window.location.hash);
  return m ? Number(m[1]) : null;
}

async function start() {
  let me;
  try {
    me = await get('/api/auth/me');
  } catch (err) {
    if (authGone(err)) return;
    $('page-loading').hidden = true;
    showMessage($('page-error'), `The dashboard cannot reach the server: ${err.message}`);
    return;
  }
  const user = me.user || {};
  $('user-name').textContent = user.username || '';
  $('user-role').textContent = user.role || '';
  $('user-role').hidden = !user.role;
  $('user-box').hidden = false;
  $('page-loading').hidden = true;
  $('main').hidden = false;

  form.addEventListener('submit', onSubmit);
  topic.addEventListener('input', () => {
    updateTopicCount();
    if ($('topic-error').textContent) setTopicError('');
  });
  for (const input of form.elements.mode) input.addEventListener('change', syncMode);
  $('options-grid').addEventListener('input', (e) => {
    const key = e.target.id?.startsWith('opt-') ? e.target.id.slice(4) : null;
    if (key) options.setError(key, '');
  });
  updateTopicCount();
  syncMode();
  // On a phone the options start folded; their summary line shows the choices.
  if (window.matchMedia('(max-width: 520px)').matches) $('options').open = false;

  loadOptions();
  jobHistory.reload();
  allJobs.start();
  const id = jobFromHash();
  if (id) selectJob(id);
  window.addEventListener('hashchange', () => {
    const h = jobFromHash();
    if (h && h !== view.id) selectJob(h);
  });
}

$('logout').addEventListener('click', async () => {
  await withBusy($('logout'), async () => {
    closeStream();
    allJobs.stop();
    try {
      await post('/api/auth/logout');
    } catch {
      // Gone already or unreachable: the login page sorts it out.
    }
    window.location.replace('/login');
  });
});

start();
