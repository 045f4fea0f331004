// Notifications: mentions and replies in full, likes, reactions, reposts, quotes and follows as one line
// each, read as Mastodon 4.3's groups (GET /api/v2/notifications: "Bob and 2 others liked your post"; a follow
// with a "Follow back" button); new ones arrive live, one by one. While this page is open, everything counts
// as read.

import { api, nextLink } from '../api.js';
import { h, icon, plainText, timeAgo, toast } from '../dom.js';
import * as stream from '../stream.js';
import { REACTION_EMOJI, REACTION_LABEL, session, ui } from '../state.js';
import { accountRow, avatar, displayName, profilePath } from '../components/account.js';
import { ICONS } from '../components/icons.js';
import { statusCard, statusPath } from '../components/status.js';
import { timeline } from '../components/timeline.js';
import { noteNewest, setViewing } from '../unread.js';

const FILTERS = [
  { key: 'all', label: 'All', query: '' },
  { key: 'mentions', label: 'Mentions', query: '&types[]=mention' },
];

function describe(n) {
  switch (n.type) {
    case 'favourite':
      return [ICONS.heart, 'liked your post'];
    case 'reaction':
      return [ICONS.smile, `reacted ${REACTION_EMOJI[n.reaction?.name] || ''} ${(REACTION_LABEL[n.reaction?.name] || n.reaction?.name || '').toLowerCase()} to your post`];
    case 'reblog':
      return [ICONS.repost, 'reposted your post'];
    case 'quote':
      return [ICONS.quote, 'quoted your post'];
    case 'follow':
      return [ICONS.user, 'followed you'];
    case 'follow_request':
      return [ICONS.user, 'asked to follow you'];
    case 'mention':
      return [ICONS.reply, n.status?.in_reply_to_id ? 'replied to you' : 'mentioned you'];
    default:
      return [ICONS.bell, n.type];
  }
}

/** A page of notification groups as items like v1 notifications (the group's newest account first), plus
 * `others`: how many more notifications the group holds. */
async function loadGroups(first, cursor) {
  const { body, response } = await api(cursor || first, { raw: true });
  const accounts = new Map([...(body.accounts || []), ...(body.partial_accounts || [])].map((a) => [a.id, a]));
  const statuses = new Map((body.statuses || []).map((s) => [s.id, s]));
  const items = (body.notification_groups || []).map((g) => ({
    id: String(g.most_recent_notification_id),
    type: g.type,
    group_key: g.group_key,
    created_at: g.latest_page_notification_at,
    account: accounts.get(g.sample_account_ids[0]),
    others: Math.max(0, g.notifications_count - 1),
    status_id: g.status_id,
    status: g.status_id ? statuses.get(g.status_id) : undefined,
    reaction: g.reaction,
  }));
  return { items: items.filter((n) => n.account && (!n.status_id || n.status)), next: nextLink(response) };
}

// Relationships of the followers shown, asked for together: one request for a page of follow notifications.
let pending = null;

function relationship(id) {
  if (!pending) {
    const batch = { ids: new Set(), answer: null };
    batch.answer = Promise.resolve().then(async () => {
      pending = null;
      const found = await api('/api/v1/accounts/relationships', { query: { id: [...batch.ids] } });
      return new Map(found.map((r) => [r.id, r]));
    });
    pending = batch;
  }
  pending.ids.add(id);
  const { answer } = pending;
  return answer.then((byId) => byId.get(id));
}

function followLabel(rel) {
  if (rel?.following) return 'Following';
  if (rel?.requested) return 'Requested';
  return 'Follow back';
}

/** "Follow back" on a follow notification; once following (or if already), it says so. */
function followBackButton(account) {
  const button = h('button', { type: 'button', class: 'primary follow-back', disabled: true }, 'Follow back');
  const show = (rel) => {
    button.textContent = followLabel(rel);
    const done = Boolean(rel?.following || rel?.requested);
    button.className = done ? 'secondary follow-back' : 'primary follow-back';
    button.disabled = done;
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      show(await api(`/api/v1/accounts/${account.id}/follow`, { method: 'POST' }));
      toast(`You follow @${account.acct} now.`);
    } catch (error) {
      toast(error.message, 'error');
      button.disabled = false;
    }
  });
  relationship(account.id).then(show, () => show(null));
  return button;
}

export function notificationItem(n) {
  const [iconPath, text] = describe(n);
  const others = n.others ? (n.others === 1 ? ' and 1 other' : ` and ${n.others} others`) : '';
  const line = h(
    'p',
    { class: 'notification-line' },
    icon(iconPath, `icon notification-icon type-${n.type}`),
    h('a', { class: 'notification-who', href: profilePath(n.account) }, avatar(n.account, 'sm'), h('strong', {}, displayName(n.account))),
    `${others} ${text} `,
    timeAgo(n.created_at),
  );
  let detail = null;
  if (n.type === 'mention' || n.type === 'quote') {
    detail = n.status ? statusCard(n.status) : null;
  } else if (n.type === 'follow') {
    detail = accountRow(n.account, followBackButton(n.account));
  } else if (n.type === 'follow_request') {
    detail = accountRow(n.account, h('a', { class: 'review-requests', href: '/follow_requests' }, 'Review follow requests'));
  } else if (n.status) {
    detail = h('a', { class: 'excerpt', href: statusPath(n.status) }, plainText(n.status.content).slice(0, 200) || 'your post');
  }
  return h('article', { class: ['notification', `notification-${n.type}`], dataset: { id: n.id }, tabindex: '-1' }, line, detail);
}

// A locked account (or one with requests still waiting) reaches its follow requests from here.
function requestsLink() {
  const waiting = session.me.source?.follow_requests_count || 0;
  if (!session.me.locked && !waiting) return null;
  const text = waiting === 1 ? '1 follow request' : `${waiting} follow requests`;
  return h('p', { class: 'requests-link' }, h('a', { href: '/follow_requests' }, icon(ICONS.user), ` ${waiting ? text : 'Follow requests'}`));
}

export function render(main, _params, query) {
  if (!session.me) {
    main.append(h('h1', { class: 'screen-title' }, 'Notifications'), h('p', {}, 'Sign in to see your notifications.'));
    ui.signIn('/notifications');
    return null;
  }
  const filter = FILTERS.find((f) => f.key === query.get('filter')) || FILTERS[0];
  document.title = 'Notifications · Chirp';
  const first = `/api/v2/notifications?limit=20&expand_accounts=full${filter.query}`;
  const feed = timeline({
    load: (cursor) => loadGroups(first, cursor),
    render: notificationItem,
    label: 'Notifications',
    empty: 'No notifications yet. When people like, reply to, repost or follow you, it shows here.',
  });
  main.append(
    h('h1', { class: 'screen-title' }, 'Notifications'),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Which notifications' },
      FILTERS.map((f) => h('a', { href: f.key === 'all' ? '/notifications' : `/notifications?filter=${f.key}`, 'aria-current': f === filter ? 'page' : undefined }, f.label)),
    ),
    requestsLink(),
    feed.el,
  );
  setViewing(true);
  const off = stream.on('notification', (n) => {
    noteNewest(n.id);
    if (filter.key === 'all' || n.type === 'mention') feed.offer([n]);
  });
  return () => {
    off();
    setViewing(false);
    feed.destroy();
  };
}
