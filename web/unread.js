// The unread notifications badge. The newest notification the user has seen is remembered in this
// browser; the count is what arrived after it: fetched at start, then kept up live from the stream's
// `notification` events (replayed after a reconnect; fetched again when the server says `reload`).

import { page } from './api.js';
import { compareIds } from './dom.js';
import * as stream from './stream.js';

const LIMIT = 40; // counted up to this many; the badge shows "40+" beyond
const listeners = new Set();
let storageKey = null;
let seen = new Set(); // ids counted as unread
let newest = null; // the newest notification id known here
let viewing = false; // the notifications page is open: everything arriving is read at once
let subscribed = false;

function lastRead() {
  return storageKey ? localStorage.getItem(storageKey) : null;
}

function changed() {
  for (const fn of listeners) fn(seen.size, seen.size >= LIMIT);
}

function note(id) {
  if (newest === null || compareIds(id, newest) > 0) newest = id;
}

function count(ids) {
  const read = lastRead();
  for (const id of ids) {
    note(id);
    if (!viewing && (read === null || compareIds(id, read) > 0)) seen.add(id);
  }
  if (viewing) markAllRead();
  changed();
}

async function refresh() {
  const read = lastRead();
  const { items } = await page('/api/v1/notifications', { query: { limit: LIMIT, ...(read ? { since_id: read } : {}) } });
  count(items.map((n) => n.id));
}

export function onUnreadChange(fn) {
  listeners.add(fn);
  fn(seen.size, seen.size >= LIMIT);
  return () => listeners.delete(fn);
}

/** Everything up to the newest notification known is read. */
export function markAllRead() {
  if (storageKey && newest) localStorage.setItem(storageKey, newest);
  seen = new Set();
  changed();
}

export function setViewing(value) {
  viewing = value;
  if (value) markAllRead();
}

export function noteNewest(id) {
  note(id);
}

export function startUnread(me) {
  storageKey = `chirp.notifications.read.${me.id}`;
  seen = new Set();
  newest = null;
  if (!subscribed) {
    subscribed = true;
    stream.on('notification', (notification) => storageKey && count([notification.id]));
    stream.on('reload', () => storageKey && refresh().catch(() => {}));
  }
  refresh().catch(() => {});
}

export function stopUnread() {
  storageKey = null;
  seen = new Set();
  changed();
}
