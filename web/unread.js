// The unread notifications badge, the same on every device: what is read is the server's notifications
// marker (GET/POST /api/v1/markers), not something this browser remembers. The count is the notifications
// newer than the marker: fetched at start and whenever the page comes back into view (another device may
// have read them meanwhile), kept up live from the stream's `notification` events (replayed after a
// reconnect; fetched again when the server says `reload`). Reading them moves the marker.

import { api, page } from './api.js';
import { compareIds } from './dom.js';
import * as stream from './stream.js';

const LIMIT = 40; // counted up to this many; the badge shows "40+" beyond
const listeners = new Set();
let active = false;
let readUpTo = null; // the marker's last_read_id
let seen = new Set(); // ids counted as unread
let newest = null; // the newest notification id known here
let viewing = false; // the notifications page is open: everything arriving is read at once
let subscribed = false;
let saving = Promise.resolve();

function changed() {
  for (const fn of listeners) fn(seen.size, seen.size >= LIMIT);
}

function note(id) {
  if (newest === null || compareIds(id, newest) > 0) newest = id;
}

function unread(id) {
  return readUpTo === null || compareIds(id, readUpTo) > 0;
}

function count(ids) {
  for (const id of ids) {
    note(id);
    if (!viewing && unread(id)) seen.add(id);
  }
  if (viewing) markAllRead();
  changed();
}

async function refresh() {
  const markers = await api('/api/v1/markers', { query: { 'timeline[]': 'notifications' } });
  if (!active) return;
  readUpTo = markers.notifications?.last_read_id ?? null;
  const { items } = await page('/api/v1/notifications', { query: { limit: LIMIT, ...(readUpTo ? { since_id: readUpTo } : {}) } });
  if (!active) return;
  seen = new Set();
  count(items.map((n) => n.id));
}

export function onUnreadChange(fn) {
  listeners.add(fn);
  fn(seen.size, seen.size >= LIMIT);
  return () => listeners.delete(fn);
}

/** Everything up to the newest notification known is read: the marker moves there (never back). */
export function markAllRead() {
  seen = new Set();
  changed();
  if (!active || !newest || !unread(newest)) return;
  readUpTo = newest;
  const position = newest;
  saving = saving
    .then(() => api('/api/v1/markers', { method: 'POST', json: { notifications: { last_read_id: position } } }))
    .catch(() => {});
}

export function setViewing(value) {
  viewing = value;
  if (value) markAllRead();
}

export function noteNewest(id) {
  note(id);
}

function onVisible() {
  if (active && document.visibilityState === 'visible' && !viewing) refresh().catch(() => {});
}

export function startUnread() {
  active = true;
  seen = new Set();
  newest = null;
  readUpTo = null;
  if (!subscribed) {
    subscribed = true;
    stream.on('notification', (notification) => active && count([notification.id]));
    stream.on('reload', () => active && refresh().catch(() => {}));
    document.addEventListener('visibilitychange', onVisible);
  }
  refresh().catch(() => {});
}

export function stopUnread() {
  active = false;
  seen = new Set();
  changed();
}
