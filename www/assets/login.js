// /login: sign in with a user name and password, then go to the dashboard.
import { get, post, withBusy } from '/assets/api.js';

const DASHBOARD = '/dashboard/video-factory';

const form = document.getElementById('login-form');
const username = document.getElementById('username');
const password = document.getElementById('password');
const formError = document.getElementById('login-error');
const submit = document.getElementById('login-submit');

function setFieldError(input, message) {
  const out = document.getElementById(input.id + '-error');
  out.textContent = message;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

function setFormError(message) {
  formError.textContent = message;
  formError.hidden = !message;
}

function validate() {
  let first = null;
  const checks = [
    [username, username.value.trim() ? '' : 'Enter your user name.'],
    [password, password.value ? '' : 'Enter your password.'],
  ];
  for (const [input, message] of checks) {
    setFieldError(input, message);
    if (message && !first) first = input;
  }
  return first;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  setFormError('');
  const invalid = validate();
  if (invalid) {
    invalid.focus();
    return;
  }
  await withBusy(submit, async () => {
    try {
      await post('/api/auth/login', { username: username.value.trim(), password: password.value });
      window.location.assign(DASHBOARD);
    } catch (err) {
      if (err.field === 'username' || err.field === 'password') {
        setFieldError(err.field === 'username' ? username : password, err.message);
      } else {
        setFormError(err.message);
      }
      if (err.code === 'invalid_credentials') {
        password.value = '';
        password.focus();
      }
    }
  });
});

for (const input of [username, password]) {
  input.addEventListener('input', () => setFieldError(input, ''));
}

// Already signed in: skip the form.
get('/api/auth/me').then(() => window.location.replace(DASHBOARD), () => {
  username.focus();
});
