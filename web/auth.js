// Signing in and out with OAuth's authorization-code flow (PKCE), as any Mastodon client does: the client
// registers itself once (POST /api/v1/apps), the server's own page asks for the password, and the code
// comes back to /callback. The token lives in this origin's localStorage, never in a cookie.

import { api, setToken, token } from './api.js';

const APP_KEY = 'chirp.app';
const PENDING_KEY = 'chirp.signin';
// The admin scopes let an admin or moderator use the moderation page; for anyone else the server refuses
// the admin API whatever the token holds (the role decides).
export const SCOPES = 'read write follow push admin:read admin:write';

function redirectUri() {
  return `${location.origin}/callback`;
}

function base64url(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

/** This browser's registration of the client (made once, again if the server no longer knows it). */
async function clientApp({ fresh = false } = {}) {
  const stored = JSON.parse(localStorage.getItem(APP_KEY) || 'null');
  if (stored && !fresh && stored.redirect_uri === redirectUri() && stored.scopes === SCOPES) return stored;
  const created = await api('/api/v1/apps', {
    method: 'POST',
    auth: null,
    json: { client_name: 'Chirp Web', redirect_uris: redirectUri(), scopes: SCOPES, website: location.origin },
  });
  const app = { client_id: created.client_id, client_secret: created.client_secret, redirect_uri: redirectUri(), scopes: SCOPES };
  localStorage.setItem(APP_KEY, JSON.stringify(app));
  return app;
}

/** Run `fn(app)`, registering the client again once if the server has forgotten it (invalid_client). */
async function withClient(fn) {
  try {
    return await fn(await clientApp());
  } catch (error) {
    if (error.status !== 401 || error.body?.error !== 'invalid_client') throw error;
    return fn(await clientApp({ fresh: true }));
  }
}

async function pkceChallenge(verifier) {
  if (!crypto.subtle) return null; // plain http on a public host: no WebCrypto, so no PKCE (state still applies)
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Off to the server's sign-in page; it comes back to /callback. */
export async function signIn(returnTo = '/') {
  const app = await clientApp();
  const state = randomText(16);
  const verifier = randomText(48);
  const challenge = await pkceChallenge(verifier);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier: challenge ? verifier : null, returnTo }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: app.client_id,
    redirect_uri: app.redirect_uri,
    scope: SCOPES,
    state,
  });
  if (challenge) {
    query.set('code_challenge', challenge);
    query.set('code_challenge_method', 'S256');
  }
  location.assign(`/oauth/authorize?${query}`);
}

/** At /callback: check the state, trade the code for a token. Returns where to go next. */
export async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
  sessionStorage.removeItem(PENDING_KEY);
  if (params.get('error')) throw new Error(params.get('error_description') || params.get('error'));
  if (!pending || !params.get('code') || params.get('state') !== pending.state) {
    throw new Error('This sign-in did not start here, or has expired. Please sign in again.');
  }
  const app = await clientApp();
  const issued = await api('/oauth/token', {
    method: 'POST',
    auth: null,
    form: {
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: app.redirect_uri,
      client_id: app.client_id,
      client_secret: app.client_secret,
      ...(pending.verifier ? { code_verifier: pending.verifier } : {}),
    },
  });
  setToken(issued.access_token);
  return pending.returnTo || '/';
}

/** Create an account with the client's own token (client_credentials); the answer is the new user's token. */
export async function register({ username, email, password, agreement }) {
  const issued = await withClient(async (app) => {
    const appToken = await api('/oauth/token', {
      method: 'POST',
      auth: null,
      form: { grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.client_secret, scope: SCOPES },
    });
    return api('/api/v1/accounts', {
      method: 'POST',
      auth: appToken.access_token,
      json: { username, email, password, agreement, locale: navigator.language?.slice(0, 2) || 'en' },
    });
  });
  setToken(issued.access_token);
}

/** Revoke the token on the server (best effort) and forget it here. */
export async function signOut() {
  const current = token();
  setToken(null);
  const app = JSON.parse(localStorage.getItem(APP_KEY) || 'null');
  if (!current || !app) return;
  try {
    await api('/oauth/revoke', {
      method: 'POST',
      auth: null,
      form: { client_id: app.client_id, client_secret: app.client_secret, token: current },
    });
  } catch {
    // Signed out here either way: the token is gone from this browser even if the server was unreachable.
  }
}
