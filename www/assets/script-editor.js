// Step-by-step review: the script's title and scenes (narration, caption,
// keywords) in editable fields; scenes can be added, removed and reordered.
// Keys the editor does not show are kept as they came from the server.

const MAX_SCENES = 20;
const MAX_NARRATION = 400;

function chars(s) {
  return [...s].length;
}

function clone(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

function keywordsText(scene) {
  const k = scene?.visual?.keywords;
  return Array.isArray(k) ? k.join(', ') : '';
}

function parseKeywords(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

export class ScriptEditor {
  constructor(root, { onDirtyChange } = {}) {
    this.root = root;
    this.form = root.querySelector('#script-form');
    this.title = root.querySelector('#script-title');
    this.list = root.querySelector('#scenes');
    this.template = document.getElementById('scene-template');
    this.addButton = root.querySelector('#btn-add-scene');
    this.generalError = root.querySelector('#script-error');
    this.dirtyNote = root.querySelector('#script-dirty');
    this.onDirtyChange = onDirtyChange || (() => {});
    this.base = null;
    this.scenes = [];
    this.jobId = null;
    this.dirty = false;

    this.title.addEventListener('input', () => {
      this.clearError(this.title);
      this.setDirty(true);
    });
    this.addButton.addEventListener('click', () => this.addScene());
    this.list.addEventListener('click', (e) => this.onSceneTool(e));
    this.list.addEventListener('input', (e) => this.onSceneInput(e));
  }

  // Shows a job's script. A newer copy from the server does not replace
  // unsaved edits of the same job.
  load(jobId, script, { force = false } = {}) {
    if (!force && this.jobId === jobId && this.dirty) return;
    const text = JSON.stringify(script ?? null);
    if (!force && this.jobId === jobId && text === this.loadedText) return;
    this.jobId = jobId;
    this.loadedText = text;
    this.base = clone(script) || {};
    this.scenes = Array.isArray(this.base.scenes) ? clone(this.base.scenes) : [];
    this.title.value = typeof this.base.title === 'string' ? this.base.title : '';
    this.clearErrors();
    this.renderScenes();
    this.setDirty(false);
  }

  setDirty(dirty) {
    this.dirty = dirty;
    this.dirtyNote.textContent = dirty ? 'Unsaved changes' : '';
    this.onDirtyChange(dirty);
  }

  renderScenes(focus) {
    this.list.replaceChildren();
    this.scenes.forEach((scene, i) => {
      const node = this.template.content.firstElementChild.cloneNode(true);
      node.dataset.index = String(i);
      node.querySelector('.scene-number').textContent = `Scene ${i + 1}`;
      for (const part of ['narration', 'caption', 'keywords']) {
        const input = node.querySelector(`[data-part="${part}"]`);
        const label = node.querySelector(`[data-part="${part}-label"]`);
        const error = node.querySelector(`[data-part="${part}-error"]`);
        input.id = `scene-${i}-${part}`;
        error.id = `scene-${i}-${part}-error`;
        label.htmlFor = input.id;
        const described = [error.id];
        if (part === 'narration') {
          const count = node.querySelector('[data-part="narration-count"]');
          count.id = `scene-${i}-narration-count`;
          described.push(count.id);
        }
        input.setAttribute('aria-describedby', described.join(' '));
      }
      node.querySelector('[data-part="narration"]').value = typeof scene.narration === 'string' ? scene.narration : '';
      node.querySelector('[data-part="caption"]').value = typeof scene.caption === 'string' ? scene.caption : '';
      node.querySelector('[data-part="keywords"]').value = keywordsText(scene);
      this.updateCount(node);

      const up = node.querySelector('[data-action="up"]');
      const down = node.querySelector('[data-action="down"]');
      const remove = node.querySelector('[data-action="remove"]');
      up.setAttribute('aria-label', `Move scene ${i + 1} up`);
      down.setAttribute('aria-label', `Move scene ${i + 1} down`);
      remove.setAttribute('aria-label', `Remove scene ${i + 1}`);
      up.disabled = i === 0;
      down.disabled = i === this.scenes.length - 1;
      remove.disabled = this.scenes.length <= 1;
      this.list.append(node);
    });
    this.addButton.disabled = this.scenes.length >= MAX_SCENES;
    if (focus) {
      const target = this.list.querySelector(`[data-index="${focus.index}"] ${focus.selector}`);
      if (target && !target.disabled) target.focus();
      else this.list.querySelector(`[data-index="${focus.index}"] textarea`)?.focus();
    }
  }

  updateCount(node) {
    const text = node.querySelector('[data-part="narration"]').value;
    const count = node.querySelector('[data-part="narration-count"]');
    const n = chars(text.trim());
    count.textContent = `${n} / ${MAX_NARRATION}`;
    count.classList.toggle('is-over', n > MAX_NARRATION);
  }

  onSceneInput(e) {
    const node = e.target.closest('.scene');
    if (!node) return;
    const i = Number(node.dataset.index);
    const part = e.target.dataset.part;
    const scene = this.scenes[i];
    if (part === 'narration') {
      scene.narration = e.target.value;
      this.updateCount(node);
    } else if (part === 'caption') {
      scene.caption = e.target.value.trim() ? e.target.value : null;
    } else if (part === 'keywords') {
      scene.visual = { ...(scene.visual || {}), keywords: parseKeywords(e.target.value) };
    } else return;
    this.clearError(e.target);
    this.setDirty(true);
  }

  onSceneTool(e) {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const i = Number(button.closest('.scene').dataset.index);
    const action = button.dataset.action;
    if (action === 'up' && i > 0) {
      [this.scenes[i - 1], this.scenes[i]] = [this.scenes[i], this.scenes[i - 1]];
      this.renderScenes({ index: i - 1, selector: '[data-action="up"]' });
    } else if (action === 'down' && i < this.scenes.length - 1) {
      [this.scenes[i + 1], this.scenes[i]] = [this.scenes[i], this.scenes[i + 1]];
      this.renderScenes({ index: i + 1, selector: '[data-action="down"]' });
    } else if (action === 'remove' && this.scenes.length > 1) {
      this.scenes.splice(i, 1);
      this.renderScenes({ index: Math.min(i, this.scenes.length - 1), selector: '[data-action="remove"]' });
    } else return;
    this.setDirty(true);
  }

  addScene() {
    if (this.scenes.length >= MAX_SCENES) return;
    const palette = this.scenes[this.scenes.length - 1]?.visual?.palette;
    const visual = { keywords: [] };
    if (palette) visual.palette = palette;
    this.scenes.push({ narration: '', caption: null, visual });
    this.renderScenes({ index: this.scenes.length - 1, selector: 'textarea' });
    this.setDirty(true);
  }

  // The script to PUT: the server's copy with the edited parts replaced.
  value() {
    const script = clone(this.base) || {};
    script.title = this.title.value.trim();
    script.scenes = this.scenes.map((s) => {
      const scene = clone(s);
      scene.narration = typeof scene.narration === 'string' ? scene.narration.trim() : '';
      if (typeof scene.caption === 'string') scene.caption = scene.caption.trim() || null;
      return scene;
    });
    return script;
  }

  // Client-side checks; shows messages and returns the first bad control.
  validate() {
    this.clearErrors();
    let first = null;
    const fail = (control, message) => {
      this.setError(control, message);
      if (!first) first = control;
    };
    if (!this.title.value.trim()) fail(this.title, 'Give the video a title.');
    this.scenes.forEach((s, i) => {
      const n = chars((s.narration || '').trim());
      const input = document.getElementById(`scene-${i}-narration`);
      if (n < 1) fail(input, 'Write what the voice says in this scene.');
      else if (n > MAX_NARRATION) fail(input, `Keep the narration to ${MAX_NARRATION} characters (now ${n}).`);
    });
    if (!this.scenes.length) {
      this.showGeneral('A script needs at least one scene.');
      first = first || this.addButton;
    }
    return first;
  }

  // Server validation errors: [{field:"scenes[1].narration", message}].
  // Returns the first control marked.
  showServerErrors(fields, fallback) {
    this.clearErrors();
    const general = [];
    let first = null;
    for (const f of fields || []) {
      const control = this.controlFor(f.field);
      if (control) {
        this.setError(control, String(f.message || 'Invalid value.'));
        if (!first) first = control;
      } else {
        general.push(f.field ? `${f.field}: ${f.message}` : String(f.message));
      }
    }
    if (general.length) this.showGeneral(general.join(' '));
    else if (!first && fallback) this.showGeneral(fallback);
    return first;
  }

  controlFor(field) {
    if (typeof field !== 'string') return null;
    const f = field.replace(/^script\./, '');
    if (f === 'title') return this.title;
    const m = /^scenes\[(\d+)\](?:\.(\w+))?(?:\.(\w+))?/.exec(f);
    if (!m) return null;
    const i = Number(m[1]);
    let part = m[2] || 'narration';
    if (part === 'visual') part = 'keywords';
    if (!['narration', 'caption', 'keywords'].includes(part)) part = 'narration';
    return document.getElementById(`scene-${i}-${part}`);
  }

  setError(control, message) {
    const out = document.getElementById(control.id + '-error');
    if (out) out.textContent = message;
    control.setAttribute('aria-invalid', 'true');
  }

  clearError(control) {
    const out = document.getElementById(control.id + '-error');
    if (out) out.textContent = '';
    control.removeAttribute('aria-invalid');
  }

  showGeneral(message) {
    this.generalError.textContent = message;
    this.generalError.hidden = !message;
  }

  clearErrors() {
    for (const out of this.root.querySelectorAll('.field-error')) out.textContent = '';
    for (const c of this.root.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
    this.showGeneral('');
  }
}
