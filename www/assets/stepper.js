// The production stepper: Script → Video → Finalize → Done, drawn from a
// job's state, its progress and (on failure) its error.
import { sentence } from '/assets/api.js';

export const STEPS = ['script', 'render', 'finalize', 'done'];
const STEP_LABEL = { script: 'Script', render: 'Video', finalize: 'Finalize', done: 'Done' };

export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
export const RUNNING = new Set(['GENERATING_SCRIPT', 'ASSEMBLING_VIDEO', 'FINALIZING']);

export const STATE_LABEL = {
  IDLE: 'Queued',
  GENERATING_SCRIPT: 'Writing script',
  SCRIPT_READY: 'Script ready',
  ASSEMBLING_VIDEO: 'Rendering',
  VIDEO_READY: 'Video ready',
  FINALIZING: 'Finalizing',
  COMPLETED: 'Completed',
  FAILED: 'Failed',
  CANCELLED: 'Cancelled',
};

// The step each state is at (the one running, or the next one to run).
const STEP_OF_STATE = {
  IDLE: 'script',
  GENERATING_SCRIPT: 'script',
  SCRIPT_READY: 'render',
  ASSEMBLING_VIDEO: 'render',
  VIDEO_READY: 'finalize',
  FINALIZING: 'finalize',
  COMPLETED: 'done',
};

// Worker step names ("render", "video", …) onto the stepper's.
export function normalizeStep(step) {
  if (typeof step !== 'string') return null;
  const s = step.toLowerCase();
  if (s.startsWith('script')) return 'script';
  if (s.startsWith('render') || s.startsWith('video') || s.startsWith('assembl')) return 'render';
  if (s.startsWith('final') || s.startsWith('ledger')) return 'finalize';
  if (s === 'done') return 'done';
  return null;
}

export function stepLabel(step) {
  return STEP_LABEL[normalizeStep(step) ?? ''] ?? (step ? String(step) : 'Unknown step');
}

// Where a failed or cancelled job stopped.
export function stoppedStep(job) {
  return normalizeStep(job.error?.step) ?? normalizeStep(job.progress?.step) ?? 'script';
}

// Status of every step: pending, queued, active, waiting (for a person),
// done, failed or cancelled.
export function stepStatuses(job) {
  const state = job.state;
  const out = {};
  let current;
  let currentStatus;
  if (state === 'FAILED' || state === 'CANCELLED') {
    current = stoppedStep(job);
    currentStatus = state === 'FAILED' ? 'failed' : 'cancelled';
  } else {
    current = STEP_OF_STATE[state] ?? 'script';
    if (state === 'IDLE') currentStatus = 'queued';
    else if (RUNNING.has(state)) currentStatus = 'active';
    else if (state === 'COMPLETED') currentStatus = 'done';
    else currentStatus = 'waiting';
  }
  const at = STEPS.indexOf(current);
  STEPS.forEach((step, i) => {
    if (i < at) out[step] = 'done';
    else if (i === at) out[step] = currentStatus;
    else out[step] = 'pending';
  });
  return { statuses: out, current };
}

const STATUS_TEXT = {
  pending: '',
  queued: 'Queued',
  active: 'In progress',
  waiting: 'Waiting for you',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function renderStepper(list, job) {
  const { statuses, current } = stepStatuses(job);
  for (const li of list.querySelectorAll('.step')) {
    const step = li.dataset.step;
    const status = statuses[step] ?? 'pending';
    li.dataset.status = status;
    li.querySelector('.step-status').textContent = STATUS_TEXT[status];
    if (step === current && job.state !== 'COMPLETED') li.setAttribute('aria-current', 'step');
    else if (step === 'done' && job.state === 'COMPLETED') li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
}

function clampPercent(p) {
  const n = Number(p);
  if (!Number.isFinite(n)) return 0;
  return Math.max(0, Math.min(100, Math.round(n)));
}

// The progress line under the stepper: which step, how far, what it says.
// Returns what it drew, for the caller to announce or not.
export function progressView(job) {
  const state = job.state;
  const p = job.progress || {};
  const pStep = normalizeStep(p.step);
  const current = STEP_OF_STATE[state];
  switch (state) {
    case 'IDLE':
      return { step: 'Script', percent: null, message: 'Waiting for a worker to pick the job up…' };
    case 'GENERATING_SCRIPT':
    case 'ASSEMBLING_VIDEO':
    case 'FINALIZING': {
      const same = pStep === current;
      return {
        step: STEP_LABEL[current],
        percent: same ? clampPercent(p.percent) : 0,
        message: same && p.message ? sentence(String(p.message)) : `${STEP_LABEL[current]} started…`,
      };
    }
    case 'SCRIPT_READY':
      return { step: 'Script', percent: 100, message: 'Script ready. Review or edit it, then render the video.' };
    case 'VIDEO_READY':
      return { step: 'Video', percent: 100, message: 'Video ready. Watch it, then finalize.' };
    case 'COMPLETED':
      return { step: 'Done', percent: 100, message: 'Your video is ready.' };
    default:
      return null;
  }
}

export function renderProgress(job, els) {
  const view = progressView(job);
  els.block.hidden = !view;
  if (!view) return;
  els.step.textContent = view.step;
  if (view.percent === null) {
    els.bar.classList.add('is-indeterminate');
    els.bar.removeAttribute('aria-valuenow');
    els.bar.setAttribute('aria-valuetext', 'Waiting');
    els.fill.style.width = '';
    els.percent.textContent = '';
  } else {
    els.bar.classList.remove('is-indeterminate');
    els.bar.setAttribute('aria-valuenow', String(view.percent));
    els.bar.removeAttribute('aria-valuetext');
    // CSSOM writes are allowed under a style-src without 'unsafe-inline';
    // only style="" attributes in markup are not.
    els.fill.style.width = view.percent + '%';
    els.percent.textContent = view.percent + ' %';
  }
  els.bar.classList.toggle('is-done', job.state === 'COMPLETED' || view.percent === 100);
  if (els.message.textContent !== view.message) els.message.textContent = view.message;
}
