// An event stream that survives network blips without losing events.
//
// The browser's EventSource reconnects by itself after a dropped connection
// and sends Last-Event-ID, so the server replays what was missed. When the
// server refuses a reconnect (nginx's 503 while vf-sse restarts, a proxy
// error) the EventSource gives up for good; then this opens a new one with
// ?last_event_id= of the last event seen, backing off up to 30 s.

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class LiveStream {
  // path: the stream's URL. handlers: { state, progress, log } called with
  // the parsed data of each event. onStatus('live' | 'reconnecting').
  // onResume() after a reconnect that could not say where it left off;
  // onRefused() when the server turned the stream down (a 401 among others).
  constructor(path, { handlers = {}, onStatus = () => {}, onResume = () => {}, onRefused = () => {} } = {}) {
    this.path = path;
    this.handlers = handlers;
    this.onStatus = onStatus;
    this.onResume = onResume;
    this.onRefused = onRefused;
    this.source = null;
    this.lastEventId = null;
    this.delay = FIRST_DELAY_MS;
    this.timer = null;
    this.interrupted = false;
    this.status = 'closed';
  }

  get open() {
    return this.source !== null || this.timer !== null;
  }

  start(lastEventId = null) {
    this.stop();
    this.lastEventId = lastEventId;
    this.interrupted = false;
    this.connect();
  }

  stop() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    clearTimeout(this.timer);
    this.timer = null;
    this.setStatus('closed');
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.onStatus(status);
  }

  connect() {
    let url = this.path;
    if (this.lastEventId) {
      url += (url.includes('?') ? '&' : '?') + 'last_event_id=' + encodeURIComponent(this.lastEventId);
    }
    const source = new EventSource(url);
    this.source = source;

    source.addEventListener('open', () => {
      if (this.source !== source) return;
      this.delay = FIRST_DELAY_MS;
      this.setStatus('live');
      // Resumed without an event id: the server cannot know what was missed.
      if (this.interrupted && !this.lastEventId) this.onResume();
      this.interrupted = false;
    });

    for (const type of ['state', 'progress', 'log']) {
      source.addEventListener(type, (e) => {
        if (this.source !== source) return;
        if (e.lastEventId) this.lastEventId = e.lastEventId;
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (data && typeof data === 'object') this.handlers[type]?.(data);
      });
    }

    source.addEventListener('error', () => {
      if (this.source !== source) return;
      this.interrupted = true;
      this.setStatus('reconnecting');
      // CONNECTING: the browser retries by itself, with Last-Event-ID.
      if (source.readyState !== EventSource.CLOSED) return;
      source.close();
      this.source = null;
      this.onRefused();
      this.timer = setTimeout(() => {
        this.timer = null;
        this.connect();
      }, this.delay);
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    });
  }
}
