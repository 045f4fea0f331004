// The web client's entry point: start-up (sign-in callback, who is signed in, the server's limits),
// the navigation, the router that shows one screen per URL, the compose dialog and keyboard shortcuts.

import { api, onUnauthorized, page, setToken, token } from './api.js';
import { finishSignIn, signIn, signOut } from './auth.js';
import { clear, h, icon, toast } from './dom.js';
import { session, ui } from './state.js';
import * as stream from './stream.js';
import { startUnread, onUnreadChange } from './unread.js';
import { avatar } from './components/account.js';
import { composer } from './components/compose.js';
import { ICONS } from './components/icons.js';
import { removeStatus, updateStatus } from './components/status.js';
import * as bookmarks from './screens/bookmarks.js';
import * as conversations from './screens/conversations.js';
import * as followedTags from './screens/followed_tags.js';
import * as followRequests from './screens/follow_requests.js';
import * as home from './screens/home.js';
import * as lists from './screens/lists.js';
import * as moderation from './screens/moderation.js';
import * as notifications from './screens/notifications.js';
import * as profile from './screens/profile.js';
import * as search from './screens/search.js';
import * as settings from './screens/settings.js';
import * as tag from './screens/tag.js';
import * as thread from './screens/thread.js';
import * as welcome from './screens/welcome.js';
import * as explore from './screens/explore.js'; // issue 24 (discovery)

const ROUTES = [
  { pattern: /^\/$/, screen: () => (session.me ? home : welcome), nav: 'home' },
  { pattern: /^\/statuses\/(?<id>\d+)$/, screen: () => thread },
  { pattern: /^\/@(?<username>[A-Za-z0-9_]+)\/(?<id>\d+)$/, screen: () => thread },
  { pattern: /^\/@(?<username>[A-Za-z0-9_]+)$/, screen: () => profile, nav: ({ username }) => (username === session.me?.acct ? 'profile' : null) },
  { pattern: /^\/tags\/(?<tag>[^/]+)$/, screen: () => tag, nav: 'search' },
  { pattern: /^\/search$/, screen: () => search, nav: 'search' },
  { pattern: /^\/explore$/, screen: () => explore, nav: 'explore' }, // issue 24 (discovery)
  { pattern: /^\/notifications$/, screen: () => notifications, nav: 'notifications' },
  { pattern: /^\/follow_requests$/, screen: () => followRequests, nav: 'notifications' },
  { pattern: /^\/conversations$/, screen: () => conversations, nav: 'conversations' },
  // issue 24 (organizing): lists, bookmarks, followed hashtags
  { pattern: /^\/lists$/, screen: () => lists, nav: 'lists' },
  { pattern: /^\/lists\/(?<id>\d+)$/, screen: () => lists.one, nav: 'lists' },
  { pattern: /^\/bookmarks$/, screen: () => bookmarks, nav: 'bookmarks' },
  { pattern: /^\/followed_tags$/, screen: () => followedTags, nav: 'lists' },
  { pattern: /^\/settings$/, screen: () => settings, nav: 'settings' }, // issue 22: blocks, mutes, filters
  { pattern: /^\/moderation$/, screen: () => moderation, nav: 'moderation' }, // issue 22: admins and moderators
];
const SETTINGS_ICON = ['M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z', 'M12 2v3', 'M12 19v3', 'M2 12h3', 'M19 12h3', 'M4.9 4.9l2.1 2.1', 'M17 17l2.1 2.1', 'M4.9 19.1 7 17', 'M17 7l2.1-2.1'];
const NOT_OURS = /^\/(api|oauth|assets|\.well-known)\//;

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let current = null; // { screen, el, cleanup, scrollY }
const kept = new Map(); // screens kept alive between visits (home), by module

// Screens --------------------------------------------------------------------------------------------

function leave() {
  if (!current) return;
  if (current.screen.keepAlive) {
    current.scrollY = window.scrollY;
    kept.set(current.screen, current);
  } else if (current.cleanup) {
    current.cleanup();
  }
  current.el.remove();
  current = null;
}

function show() {
  const url = new URL(location.href);
  let found = null;
  for (const route of ROUTES) {
    const match = url.pathname.match(route.pattern);
    if (match) {
      found = { route, params: match.groups || {} };
      break;
    }
  }
  leave();
  clear(main);
  const navKey = found?.route.nav;
  markNav(typeof navKey === 'function' ? navKey(found.params) : navKey);
  if (!found) {
    main.append(h('h1', { class: 'screen-title' }, 'Not found'), h('p', {}, 'There is nothing at this address.'));
    return;
  }
  const screen = found.route.screen();
  const again = screen.keepAlive ? kept.get(screen) : null;
  if (again) {
    kept.delete(screen);
    current = again;
    main.append(again.el);
    document.title = again.title;
    window.scrollTo({ top: again.scrollY });
    again.el.dispatchEvent(new Event('chirp:shown'));
    return;
  }
  document.title = 'Chirp';
  const el = h('div', { class: 'screen', dataset: screen.keepAlive ? { keepAlive: 'true' } : {} });
  main.append(el);
  window.scrollTo({ top: 0 });
  current = { screen, el, cleanup: null, scrollY: 0 };
  current.cleanup = screen.render(el, found.params, url.searchParams);
  if (screen === home) document.title = 'Home · Chirp';
  current.title = document.title;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show();
  main.focus({ preventScroll: true });
}

// Navigation -----------------------------------------------------------------------------------------

const navLinks = {};

function navLink(key, href, label, iconPath, extra = null) {
  const link = h('a', { href, class: 'nav-link', dataset: { nav: key } }, icon(iconPath), h('span', { class: 'nav-label' }, label), extra);
  navLinks[key] = link;
  return link;
}

function markNav(key) {
  for (const [name, link] of Object.entries(navLinks)) {
    if (name === key) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function buildNav() {
  const live = h('p', { class: 'live-state', role: 'status' });
  stream.on('state', (state) => {
    live.dataset.state = state;
    live.textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : session.me ? 'Offline: reconnecting' : '';
  });
  const items = [h('a', { class: 'brand', href: '/' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '✦'), h('span', { class: 'brand-name' }, 'Chirp'))];
  items.push(navLink('home', '/', 'Home', ICONS.home), navLink('search', '/search', 'Search', ICONS.search));
  items.push(navLink('explore', '/explore', 'Explore', ICONS.hash)); // issue 24 (discovery)
  if (session.me) {
    const badge = h('span', { class: 'badge', hidden: true });
    const notificationsLink = navLink('notifications', '/notifications', 'Notifications', ICONS.bell, badge);
    onUnreadChange((count, more) => {
      badge.hidden = count === 0;
      badge.textContent = more ? `${count}+` : String(count);
      notificationsLink.setAttribute('aria-label', count ? `Notifications, ${badge.textContent} unread` : 'Notifications');
    });
    items.push(
      notificationsLink,
      navLink('conversations', '/conversations', 'Messages', ICONS.pen),
      navLink('lists', '/lists', 'Lists', ICONS.list),
      navLink('bookmarks', '/bookmarks', 'Bookmarks', ICONS.bookmark),
      navLink('profile', `/@${session.me.acct}`, 'Profile', ICONS.user),
      navLink('settings', '/settings', 'Settings', SETTINGS_ICON),
      moderation.mayModerate() ? navLink('moderation', '/moderation', 'Moderation', moderation.ICON) : null,
      h('button', { type: 'button', class: 'nav-link compose-button', onclick: () => openCompose(), 'aria-keyshortcuts': 'n' }, icon(ICONS.pen), h('span', { class: 'nav-label' }, 'Post')),
      h(
        'div',
        { class: 'nav-me' },
        avatar(session.me, 'sm'),
        h('span', { class: 'nav-label acct' }, `@${session.me.acct}`),
        h('button', {
          type: 'button',
          class: 'link-button sign-out',
          onclick: async () => {
            stream.disconnect();
            await signOut();
            location.assign('/');
          },
        }, icon(ICONS.logout), h('span', { class: 'nav-label' }, 'Sign out')),
      ),
      live,
    );
  } else {
    items.push(h('button', { type: 'button', class: 'nav-link', onclick: () => signIn(location.pathname) }, icon(ICONS.login), h('span', { class: 'nav-label' }, 'Sign in')));
  }
  nav.replaceChildren(h('nav', { 'aria-label': 'Main' }, items));
}

// Compose dialog -------------------------------------------------------------------------------------

function openCompose({ replyTo = null, quote = null } = {}) {
  const dialog = h('dialog', { class: 'compose-dialog', 'aria-label': replyTo ? 'Reply' : quote ? 'Quote post' : 'New post' });
  const form = composer({
    replyTo,
    quote,
    autofocus: true,
    onPosted: (status) => {
      dialog.close();
      window.dispatchEvent(new CustomEvent('chirp:posted', { detail: status }));
    },
  });
  dialog.append(
    h('div', { class: 'dialog-head' },
      h('h2', {}, replyTo ? 'Reply' : quote ? 'Quote' : 'New post'),
      h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => dialog.close() }, icon(ICONS.close)),
    ),
    form.el,
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  form.focus();
}

// Links and keys -------------------------------------------------------------------------------------

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || NOT_OURS.test(url.pathname)) return;
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return; // in-page (skip link)
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', show);

function typing(target) {
  return target.closest('input, textarea, select, [contenteditable="true"], dialog');
}

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if (event.key === 'j' || event.key === 'k') {
    const cards = [...main.querySelectorAll('.status')];
    if (!cards.length) return;
    const at = cards.indexOf(document.activeElement.closest('.status'));
    const next = cards[Math.max(0, Math.min(cards.length - 1, at + (event.key === 'j' ? 1 : -1)))] || cards[0];
    next.focus();
    next.scrollIntoView({ block: 'nearest' });
  } else if (event.key === 'n' && session.me) {
    openCompose();
  } else if (event.key === '/') {
    navigate('/search');
    document.getElementById('search-q')?.focus();
  } else {
    return;
  }
  event.preventDefault();
});

// Start ----------------------------------------------------------------------------------------------

async function loadInstance() {
  try {
    const instance = await api('/api/v2/instance', { auth: null });
    const statuses = instance.configuration?.statuses || {};
    session.maxChars = statuses.max_characters || session.maxChars;
    session.maxMedia = statuses.max_media_attachments || session.maxMedia;
  } catch {
    // the defaults will do
  }
}

async function loadMe() {
  if (!token()) return;
  try {
    session.me = await api('/api/v1/accounts/verify_credentials');
  } catch (error) {
    if (error.status === 401) setToken(null);
    else toast(error.message, 'error');
  }
}

/** Where the stream starts: after the newest home post and notification there are now (1: from the start). */
async function streamStart() {
  try {
    const [home, notes] = await Promise.all([
      page('/api/v1/timelines/home', { query: { limit: 1 } }),
      page('/api/v1/notifications', { query: { limit: 1 } }),
    ]);
    return `${home.items[0]?.id || 1}_${notes.items[0]?.id || 1}`;
  } catch {
    return null; // live from now on; the screens' own reads cover the rest
  }
}

async function start() {
  ui.navigate = navigate;
  ui.compose = openCompose;
  ui.signIn = (returnTo) => signIn(returnTo).catch((error) => toast(error.message, 'error'));
  if (location.pathname === '/callback') {
    try {
      history.replaceState(null, '', await finishSignIn());
    } catch (error) {
      history.replaceState(null, '', '/');
      toast(error.message, 'error');
    }
  }
  await Promise.all([loadInstance(), loadMe()]);
  buildNav();
  if (session.me) {
    const signedOutElsewhere = () => {
      stream.disconnect();
      setToken(null);
      location.assign('/');
    };
    onUnauthorized(signedOutElsewhere);
    stream.on('unauthorized', signedOutElsewhere);
    stream.on('status.update', updateStatus);
    stream.on('delete', (id) => removeStatus(String(id)));
    startUnread();
    stream.connect(token(), await streamStart());
  }
  show();
}

start();
