// Accounts as the client shows them: avatars, names and rows in lists.

import { h, icon } from '../dom.js';
import { ICONS } from './icons.js';

const HUES = 8;

function hue(name) {
  let sum = 0;
  for (const ch of name) sum = (sum * 31 + ch.codePointAt(0)) % 9973;
  return sum % HUES;
}

/** The avatar image, or (for the server's placeholder) the initial on a colour picked from the name. */
export function avatar(account, size = 'md') {
  const url = account.avatar || '';
  if (url && !url.endsWith('/missing.png')) {
    return h('img', { class: ['avatar', `avatar-${size}`], src: url, alt: '', loading: 'lazy', decoding: 'async' });
  }
  const initial = [...(account.display_name || account.username || '?').trim()][0] || '?';
  return h(
    'span',
    { class: ['avatar', `avatar-${size}`, `hue-${hue(account.username || '')}`], 'aria-hidden': 'true' },
    initial.toUpperCase(),
  );
}

export function displayName(account) {
  return (account.display_name || '').trim() || account.username;
}

export function profilePath(account) {
  return `/@${account.acct || account.username}`;
}

/** A one-line account: avatar, name and @handle, linking to the profile. */
export function accountRow(account, extra = null) {
  return h(
    'div',
    { class: 'account-row' },
    h(
      'a',
      { class: 'account-link', href: profilePath(account) },
      avatar(account, 'md'),
      h('span', { class: 'names' }, h('strong', { class: 'name' }, displayName(account)), h('span', { class: 'acct' }, `@${account.acct}`)),
    ),
    extra,
  );
}

export function hashtagRow(tag) {
  return h(
    'a',
    { class: 'hashtag-row', href: `/tags/${encodeURIComponent(tag.name)}` },
    icon(ICONS.hash),
    h('span', {}, `#${tag.name}`),
  );
}
