// Job history: every job of the caller, newest first, a page at a time
// (GET /api/jobs?state=&limit=&before=), filtered by state, with badges kept
// live by the all-jobs event stream.
import { get } from '/assets/api.js';
import { STATE_LABEL } from '/assets/stepper.js';

export const PAGE_SIZE = 10;
const RELOAD_DELAY_MS = 300;

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function shortTime(s) {
  const t = Date.parse(s);
  if (!Number.isFinite(t)) return '';
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateFmt.format(d);
}

export function setBadge(node, state) {
  node.textContent = STATE_LABEL[state] || state || '';
  node.dataset.state = state || '';
}

export class JobHistory {
  // els: list, status, filter, newer, older, page, refresh.
  // onSelect(id) opens a job; onError(err) returns true when it handled it.
  constructor(els, { onSelect, onError }) {
    this.els = els;
    this.onSelect = onSelect;
    this.onError = onError;
    this.selectedId = null;
    this.pages = [null];        // the `before` cursor of each page seen so far
    this.nextBefore = null;
    this.jobs = [];
    this.loading = null;
    this.again = false;
    this.timer = null;

    els.filter.replaceChildren(new Option('All jobs', ''));
    for (const [state, label] of Object.entries(STATE_LABEL)) {
      els.filter.append(new Option(label, state));
    }
    els.filter.addEventListener('change', () => {
      this.pages = [null];
      this.reload();
    });
    els.older.addEventListener('click', () => {
      if (this.nextBefore === null) return;
      this.pages.push(this.nextBefore);
      this.reload();
    });
    els.newer.addEventListener('click', () => {
      if (this.pages.length < 2) return;
      this.pages.pop();
      this.reload();
    });
    els.refresh.addEventListener('click', () => this.reload());
  }

  get filter() {
    return this.els.filter.value;
  }

  get firstPage() {
    return this.pages.length === 1;
  }

  // Loads the current page; calls during a load collapse into one more load
  // after it, so the list never ends older than the last change.
  async reload() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.fetchPage();
    try {
      await this.loading;
    } finally {
      this.loading = null;
    }
    if (this.again) {
      this.again = false;
      await this.reload();
    }
  }

  scheduleReload() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), RELOAD_DELAY_MS);
  }

  async fetchPage() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.filter) params.set('state', this.filter);
    const before = this.pages[this.pages.length - 1];
    if (before !== null) params.set('before', String(before));
    this.els.list.setAttribute('aria-busy', 'true');
    try {
      const res = await get('/api/jobs?' + params.toString());
      const jobs = Array.isArray(res.jobs) ? res.jobs : [];
      // A page emptied by deletes: step back to the one before it.
      if (!jobs.length && !this.firstPage) {
        this.pages.pop();
        return this.fetchPage();
      }
      this.jobs = jobs;
      this.nextBefore = res.next_before ?? null;
      this.render();
    } catch (err) {
      if (this.onError(err)) return;
      this.els.status.textContent = `Could not load the job history: ${err.message}`;
    } finally {
      this.els.list.removeAttribute('aria-busy');
    }
  }

  render() {
    const { list, status, newer, older, page } = this.els;
    const focusedId = list.contains(document.activeElement)
      ? document.activeElement.closest('[data-job-id]')?.dataset.jobId : null;
    list.replaceChildren(...this.jobs.map((job) => this.item(job)));
    if (focusedId) list.querySelector(`[data-job-id="${focusedId}"] button`)?.focus();

    const pagerFocus = document.activeElement === newer || document.activeElement === older
      ? document.activeElement : null;
    const n = this.pages.length;
    const from = (n - 1) * PAGE_SIZE + 1;
    if (!this.jobs.length) {
      status.textContent = this.filter
        ? `No jobs in the state “${STATE_LABEL[this.filter] || this.filter}”.`
        : 'No jobs yet. Start one above.';
    } else {
      status.textContent = `Jobs ${from}–${from + this.jobs.length - 1}`
        + (this.filter ? ` · ${STATE_LABEL[this.filter] || this.filter}` : '');
    }
    newer.disabled = n < 2;
    older.disabled = this.nextBefore === null;
    page.textContent = `Page ${n}`;
    page.parentElement.hidden = n < 2 && this.nextBefore === null;
    // Paging to the last page disables the button pressed; keep the focus near.
    if (pagerFocus && pagerFocus.disabled) (pagerFocus === older ? newer : older).focus();
    this.markSelected(this.selectedId);
  }

  item(job) {
    const li = document.createElement('li');
    li.dataset.jobId = String(job.id);

    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'history-item';

    const thumb = document.createElement('span');
    thumb.className = 'history-thumb';
    if (job.video) {
      const img = document.createElement('img');
      img.src = `/api/jobs/${encodeURIComponent(job.id)}/media/thumb.jpg`;
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      thumb.append(img);
    }

    const title = document.createElement('span');
    title.className = 'history-topic';
    title.textContent = job.topic || `Job ${job.id}`;

    const meta = document.createElement('span');
    meta.className = 'history-meta';
    meta.textContent = [`#${job.id}`, job.mode === 'semi' ? 'Step' : 'Auto',
      shortTime(job.created_at)].filter(Boolean).join(' · ');

    const badge = document.createElement('span');
    badge.className = 'badge';
    setBadge(badge, job.state);

    button.append(thumb, title, badge, meta);
    button.addEventListener('click', () => this.onSelect(job.id));
    li.append(button);
    return li;
  }

  markSelected(id) {
    this.selectedId = id;
    for (const li of this.els.list.children) {
      const b = li.querySelector('.history-item');
      if (li.dataset.jobId === String(id)) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  // A state event of the all-jobs stream.
  onState(data) {
    const id = String(data.job_id ?? '');
    if (!id || !data.state) return;
    const job = this.jobs.find((j) => String(j.id) === id);
    if (job) {
      // The list may be newer than an event still on its way: never step back.
      const at = Date.parse(data.at);
      const shown = Date.parse(job.updated_at);
      if (Number.isFinite(at) && Number.isFinite(shown) && at < shown) return;
      job.state = data.state;
      if (data.at) job.updated_at = data.at;
    }
    const li = this.els.list.querySelector(`[data-job-id="${CSS.escape(id)}"]`);
    if (li) {
      setBadge(li.querySelector('.badge'), data.state);
      // Out of the filter now, or a finished render has a thumbnail to show.
      if ((this.filter && data.state !== this.filter)
          || (data.state === 'VIDEO_READY' || data.state === 'COMPLETED')) this.scheduleReload();
      return;
    }
    // A job this page does not list yet: new, or newly in the filter.
    if (this.firstPage && (!this.filter || this.filter === data.state)) this.scheduleReload();
  }

  // A job deleted from this page.
  remove(id) {
    this.jobs = this.jobs.filter((j) => String(j.id) !== String(id));
    this.els.list.querySelector(`[data-job-id="${CSS.escape(String(id))}"]`)?.remove();
    this.scheduleReload();
  }
}
