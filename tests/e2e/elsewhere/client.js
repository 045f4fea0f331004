// A browser Mastodon client served from another origin than the server (as Phanpy or Elk are): it registers
// itself, signs in with the authorization code flow and PKCE, and then calls the API with fetch, so every
// request is cross-origin and goes through CORS (with preflights for JSON bodies and Idempotency-Key).

const SERVER = new URL(import.meta.url).searchParams.get('server'); // the test's static server writes it in
const REDIRECT = `${location.origin}/callback`;
const SCOPES = 'read write follow';

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function call(path, { method = 'GET', json, headers = {}, auth = true } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  const token = sessionStorage.getItem('token');
  if (auth && token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const response = await fetch(`${SERVER}${path}`, init);
  const body = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(body)}`);
  return { body, link: response.headers.get('Link') };
}

async function signIn() {
  const { body: app } = await call('/api/v1/apps', {
    method: 'POST',
    json: { client_name: 'Elsewhere', redirect_uris: REDIRECT, scopes: SCOPES, website: location.origin },
    auth: false,
  });
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(12)));
  sessionStorage.setItem('pending', JSON.stringify({ app, verifier, state }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: app.client_id,
    redirect_uri: REDIRECT,
    scope: SCOPES,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  location.assign(`${SERVER}/oauth/authorize?${query}`);
}

async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  const { app, verifier, state } = JSON.parse(sessionStorage.getItem('pending'));
  if (params.get('state') !== state) throw new Error('the state came back changed');
  const { body: token } = await call('/oauth/token', {
    method: 'POST',
    json: {
      grant_type: 'authorization_code',
      code: params.get('code'),
      client_id: app.client_id,
      client_secret: app.client_secret, // as Phanpy sends it: Mastodon's apps are confidential clients
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    },
    auth: false,
  });
  sessionStorage.setItem('token', token.access_token);
  const { body: me } = await call('/api/v1/accounts/verify_credentials');
  document.body.dataset.signedIn = me.acct;
}

window.client = {
  home: async () => call('/api/v1/timelines/home?limit=2'),
  notifications: async () => call('/api/v1/notifications'),
  post: async (text) =>
    (await call('/api/v1/statuses', { method: 'POST', json: { status: text }, headers: { 'Idempotency-Key': crypto.randomUUID() } })).body,
};

document.getElementById('sign-in').addEventListener('click', () => {
  signIn().catch((error) => { document.body.dataset.error = error.message; });
});
if (location.pathname === '/callback') {
  finishSignIn().catch((error) => { document.body.dataset.error = error.message; });
}
