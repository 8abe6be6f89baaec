// The options form: filled from GET /api/options, read back into the
// `options` object of POST /api/jobs/{generate,step-script}.

// Select fields and the catalog keys their choices may come under.
const SELECTS = {
  language: ['languages'],
  voice: ['voices'],
  aspect: ['aspects'],
  resolution: ['resolutions'],
  tone: ['tones'],
  palette: ['palettes'],
  font: ['fonts'],
  caption_position: ['caption_positions'],
  music_track: ['music', 'music_tracks', 'tracks'],
};
// Options nested under "style" / "music" in the request body.
const STYLE_KEYS = ['palette', 'font', 'caption_color', 'highlight_color', 'caption_position'];
const NUMERIC = new Set(['resolution']);

const COLOR_RE = /^#[0-9a-fA-F]{6}$/;

function el(id) {
  return document.getElementById(id);
}

function fieldBox(key) {
  return document.querySelector(`[data-option="${key}"]`);
}

// A catalog entry may be a plain string or number, or an object naming its
// value (id/code/value/track/file/name) and label (label/name/title).
function toChoice(item) {
  if (item === null || item === undefined) return null;
  if (typeof item !== 'object') return { value: String(item), label: String(item), language: null };
  const value = item.id ?? item.code ?? item.value ?? item.track ?? item.file ?? item.name;
  if (value === undefined || value === null) return null;
  const label = item.label ?? item.name ?? item.title ?? String(value);
  const language = item.language ?? item.lang ?? null;
  return { value: String(value), label: String(label), language: language ? String(language) : null };
}

function pickList(catalog, keys) {
  for (const k of keys) {
    let list = catalog[k];
    if (list && !Array.isArray(list) && Array.isArray(list.tracks)) list = list.tracks;
    if (Array.isArray(list)) return list.map(toChoice).filter(Boolean);
  }
  return [];
}

// Defaults may be nested like a request (style.palette, music.track) or flat.
function flattenDefaults(d) {
  const out = {};
  if (!d || typeof d !== 'object') return out;
  for (const [k, v] of Object.entries(d)) {
    if (k === 'style' && v && typeof v === 'object') Object.assign(out, v);
    else if (k === 'music' && v && typeof v === 'object') {
      if ('track' in v) out.music_track = v.track ?? '';
      if ('volume' in v) out.music_volume = v.volume;
    } else out[k] = v;
  }
  return out;
}

const ASPECT_LABEL = { '9:16': '9:16 vertical', '16:9': '16:9 landscape', '1:1': '1:1 square' };

// espeak voice names carry their language: "en-us+f3" speaks en-us.
const ESPEAK_VOICE_RE = /^([a-z]{2,3}(?:-[a-z0-9]+)?)(?:\+([fm])(\d+))?$/;

function voiceChoice(choice, languageNames) {
  const m = ESPEAK_VOICE_RE.exec(choice.value);
  if (!m) return choice;
  const out = { ...choice, language: choice.language || m[1] };
  if (choice.label === choice.value && m[2]) {
    const who = `${m[2] === 'f' ? 'female' : 'male'} ${m[3]}`;
    out.label = `${languageNames.get(m[1]) || m[1]}, ${who}`;
  }
  return out;
}

// Plain catalog names ("deep-sea", 720) read better as "Deep sea", "720p".
function prettify(key, choice, languageNames) {
  if (key === 'voice') return voiceChoice(choice, languageNames);
  if (choice.label !== choice.value) return choice;
  let label = choice.label;
  if (key === 'aspect') label = ASPECT_LABEL[label] || label;
  else if (key === 'resolution' && /^\d+$/.test(label)) label += 'p';
  else if (!['voice', 'music_track', 'language'].includes(key) && /^[a-z][a-z0-9-]*$/.test(label)) {
    label = label.charAt(0).toUpperCase() + label.slice(1).replace(/-/g, ' ');
  }
  return { ...choice, label };
}

function fillSelect(select, choices, selected) {
  select.replaceChildren();
  for (const c of choices) {
    const opt = document.createElement('option');
    opt.value = c.value;
    opt.textContent = c.label;
    if (c.language) opt.dataset.language = c.language;
    select.append(opt);
  }
  if (selected !== undefined && selected !== null) select.value = String(selected);
  if (select.selectedIndex < 0 && select.options.length) select.selectedIndex = 0;
}

function sameLanguage(voiceLang, lang) {
  if (!voiceLang) return false;
  if (!lang) return true;
  const a = voiceLang.toLowerCase();
  const b = lang.toLowerCase();
  return a === b || a.startsWith(b + '-') || b.startsWith(a + '-') || a.split('-')[0] === b.split('-')[0];
}

export class OptionsForm {
  constructor() {
    this.defaults = {};
    this.allVoices = [];
    this.shown = new Set();
    this.ready = false;
  }

  // Builds the controls from the catalog; hides any option it does not offer.
  load(catalog) {
    const defaults = flattenDefaults(catalog.defaults);
    this.defaults = defaults;
    const languageNames = new Map(pickList(catalog, SELECTS.language).map((c) => [c.value, c.label]));

    for (const [key, catalogKeys] of Object.entries(SELECTS)) {
      const box = fieldBox(key);
      let choices = pickList(catalog, catalogKeys).map((c) => prettify(key, c, languageNames));
      if (key === 'music_track' && choices.length) {
        if (!choices.some((c) => c.value === '')) choices = [{ value: '', label: 'No music', language: null }, ...choices];
      }
      const def = defaults[key];
      if (choices.length && def !== undefined && def !== null && def !== '' &&
          !choices.some((c) => c.value === String(def))) {
        choices.push({ value: String(def), label: String(def), language: null });
      }
      if (!choices.length) {
        box.hidden = true;
        this.shown.delete(key);
        continue;
      }
      box.hidden = false;
      this.shown.add(key);
      if (key === 'voice') this.allVoices = choices;
      fillSelect(el('opt-' + key), choices, def);
    }

    const range = catalog.duration_s || catalog.durations || catalog.duration || {};
    const duration = el('opt-duration_s');
    if (Number.isFinite(range.min)) duration.min = String(range.min);
    if (Number.isFinite(range.max)) duration.max = String(range.max);
    el('opt-duration_s-hint').textContent = `${duration.min} to ${duration.max} seconds`;
    duration.value = String(defaults.duration_s ?? 45);
    this.shown.add('duration_s');

    for (const key of ['caption_color', 'highlight_color']) {
      const v = defaults[key];
      if (typeof v === 'string' && COLOR_RE.test(v)) el('opt-' + key).value = v.toLowerCase();
      this.shown.add(key);
    }

    const volume = el('opt-music_volume');
    volume.value = String(defaults.music_volume ?? 0.15);
    this.syncVolumeLabel();
    volume.addEventListener('input', () => this.syncVolumeLabel());

    if (this.shown.has('language') && this.shown.has('voice')) {
      this.filterVoices(defaults.voice);
      el('opt-language').addEventListener('change', () => this.filterVoices(null));
    }
    el('opt-music_track').addEventListener('change', () => this.syncMusic());
    this.syncMusic();
  }

  // One line for the collapsed panel: "English · 45 s · 9:16 vertical".
  summary() {
    const parts = [];
    const text = (key) => {
      const select = el('opt-' + key);
      return this.shown.has(key) && select.selectedIndex >= 0 ? select.options[select.selectedIndex].textContent : '';
    };
    parts.push(text('language'));
    const d = el('opt-duration_s').value;
    if (d) parts.push(`${d} s`);
    parts.push(text('aspect'));
    if (this.shown.has('music_track') && el('opt-music_track').value) parts.push(text('music_track'));
    return parts.filter(Boolean).join(' · ');
  }

  syncVolumeLabel() {
    const v = Number(el('opt-music_volume').value);
    el('opt-music_volume-out').textContent = `${Math.round(v * 100)} %`;
  }

  syncMusic() {
    const hasMusic = this.shown.has('music_track');
    const track = hasMusic ? el('opt-music_track').value : '';
    fieldBox('music_volume').hidden = !hasMusic || !track;
  }

  // Offers the voices of the chosen language (all of them when the catalog
  // does not say which language a voice speaks).
  // With no voice of its own for a language, "Automatic" leaves the voice
  // out of the request and the server picks one that speaks it.
  filterVoices(preferred) {
    const lang = el('opt-language').value;
    const select = el('opt-voice');
    const current = preferred ?? select.value;
    const known = this.allVoices.some((v) => v.language);
    let voices = this.allVoices.filter((v) => sameLanguage(v.language, lang));
    if (!known) voices = this.allVoices;
    voices = [{ value: '', label: 'Automatic for the language', language: null }, ...voices];
    const keep = voices.some((v) => v.value === current) ? current : (voices[1]?.value ?? '');
    fillSelect(select, voices, keep);
  }

  // Client-side checks; returns [{key, message}].
  validate() {
    const problems = [];
    const duration = el('opt-duration_s');
    const d = Number(duration.value);
    const min = Number(duration.min);
    const max = Number(duration.max);
    if (duration.value.trim() === '' || !Number.isInteger(d) || d < min || d > max) {
      problems.push({ key: 'duration_s', message: `Enter whole seconds from ${min} to ${max}.` });
    }
    for (const key of ['caption_color', 'highlight_color']) {
      if (!COLOR_RE.test(el('opt-' + key).value)) problems.push({ key, message: 'Pick a colour.' });
    }
    return problems;
  }

  // The request's `options` object.
  value() {
    const o = {};
    const style = {};
    const put = (key, v) => {
      if (STYLE_KEYS.includes(key)) style[key] = v;
      else o[key] = v;
    };
    for (const key of Object.keys(SELECTS)) {
      if (key === 'music_track' || !this.shown.has(key)) continue;
      const raw = el('opt-' + key).value;
      if (key === 'voice' && raw === '') continue;
      put(key, NUMERIC.has(key) ? Number(raw) : raw);
    }
    o.duration_s = Number(el('opt-duration_s').value);
    put('caption_color', el('opt-caption_color').value.toUpperCase());
    put('highlight_color', el('opt-highlight_color').value.toUpperCase());
    if (Object.keys(style).length) o.style = style;
    if (this.shown.has('music_track') && el('opt-music_track').value) {
      o.music = { track: el('opt-music_track').value, volume: Number(el('opt-music_volume').value) };
    }
    return o;
  }

  // "options.style.palette" → the palette control, or null when the form has none.
  static controlForField(field) {
    if (typeof field !== 'string') return null;
    let key = field.replace(/^options\./, '');
    if (key.startsWith('style.')) key = key.slice(6);
    else if (key.startsWith('music.')) key = 'music_' + key.slice(6);
    else if (key === 'music') key = 'music_track';
    const control = document.getElementById('opt-' + key);
    if (!control) return null;
    const box = fieldBox(key);
    if (box && box.hidden) return null;
    return control;
  }

  setError(key, message) {
    const control = el('opt-' + key);
    const out = el('opt-' + key + '-error');
    if (!control || !out) return;
    out.textContent = message;
    if (message) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }

  clearErrors() {
    for (const out of document.querySelectorAll('#options-grid .field-error')) out.textContent = '';
    for (const c of document.querySelectorAll('#options-grid [aria-invalid]')) c.removeAttribute('aria-invalid');
  }
}
