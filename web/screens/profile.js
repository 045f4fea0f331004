// A profile: header, bio, counts, follow/unfollow, and the account's posts in three tabs
// (posts, posts and replies, media).

import { api } from '../api.js';
import { dateOnly, h, safeHTML, toast, formatCount } from '../dom.js';
import { isMe, session, ui } from '../state.js';
import { avatar, displayName } from '../components/account.js';
import { timeline } from '../components/timeline.js';
import { featuredTags } from '../components/featured_tags.js'; // issue 24 (discovery)
import { accountSafetyItems, moreMenu } from '../components/safety.js';

const TABS = [
  { key: 'posts', label: 'Posts', query: 'exclude_replies=true' },
  { key: 'replies', label: 'Posts and replies', query: 'exclude_replies=false' },
  { key: 'media', label: 'Media', query: 'only_media=true' },
];

function followButton(account, relationship, onChange) {
  const following = Boolean(relationship?.following);
  const requested = !following && Boolean(relationship?.requested); // a locked account not yet answered
  return h(
    'button',
    {
      type: 'button',
      class: ['follow', following || requested ? 'secondary' : 'primary'],
      'aria-pressed': following || requested ? 'true' : 'false',
      onclick: async (event) => {
        if (!session.me) {
          ui.signIn(location.pathname);
          return;
        }
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const next = await api(`/api/v1/accounts/${account.id}/${following || requested ? 'unfollow' : 'follow'}`, { method: 'POST' });
          const fresh = await api(`/api/v1/accounts/${account.id}`);
          onChange(fresh, next);
        } catch (error) {
          toast(error.message, 'error');
          button.disabled = false;
        }
      },
    },
    following ? 'Unfollow' : requested ? 'Requested (withdraw)' : 'Follow',
  );
}

export function render(main, { username }, query) {
  const region = h('div', { class: 'profile', 'aria-busy': 'true' }, h('p', { class: 'feed-status' }, 'Loading…'));
  main.append(region);
  let feed = null;
  const active = TABS.find((t) => t.key === query.get('tab')) || TABS[0];

  function header(account, relationship) {
    const counts = h(
      'ul',
      { class: 'counts' },
      h('li', {}, h('strong', {}, formatCount(account.statuses_count)), account.statuses_count === 1 ? ' post' : ' posts'),
      h('li', {}, h('strong', {}, formatCount(account.following_count)), ' following'),
      h('li', {}, h('strong', {}, formatCount(account.followers_count)), account.followers_count === 1 ? ' follower' : ' followers'),
    );
    const action = isMe(account) ? null : followButton(account, relationship, (fresh, rel) => redraw(fresh, rel));
    const safety = session.me && !isMe(account)
      ? moreMenu('More for this account', () => accountSafetyItems(account, relationship, async (rel) => redraw(await api(`/api/v1/accounts/${account.id}`), rel)))
      : null;
    return h(
      'header',
      { class: 'profile-header' },
      h('div', { class: 'banner', 'aria-hidden': 'true' }),
      h('div', { class: 'profile-top' }, avatar(account, 'xl'), h('div', { class: 'profile-actions' }, safety, action)),
      h('h1', { class: 'profile-name' }, displayName(account)),
      h('p', { class: 'acct' }, `@${account.acct}`, relationship?.followed_by ? h('span', { class: 'tag' }, 'Follows you') : null,
        relationship?.blocking ? h('span', { class: 'tag' }, 'Blocked') : null, relationship?.muting ? h('span', { class: 'tag' }, 'Muted') : null),
      account.note ? h('div', { class: 'bio' }, safeHTML(account.note)) : null,
      h('p', { class: 'joined' }, 'Joined ', dateOnly(account.created_at)),
      counts,
    );
  }

  function tabs(account) {
    return h(
      'nav',
      { class: 'tabs', 'aria-label': 'Posts of this profile' },
      TABS.map((tab) =>
        h('a', { href: `/@${account.acct}${tab.key === 'posts' ? '' : `?tab=${tab.key}`}`, 'aria-current': tab === active ? 'page' : undefined }, tab.label),
      ),
    );
  }

  let headerEl = null;
  function redraw(account, relationship) {
    const fresh = header(account, relationship);
    headerEl.replaceWith(fresh);
    headerEl = fresh;
  }

  (async () => {
    const account = await api('/api/v1/accounts/lookup', { query: { acct: username } });
    let relationship = null;
    if (session.me && !isMe(account)) {
      [relationship] = await api('/api/v1/accounts/relationships', { query: { id: [account.id] } });
    }
    document.title = `${displayName(account)} (@${account.acct}) · Chirp`;
    headerEl = header(account, relationship);
    feed = timeline({
      first: `/api/v1/accounts/${account.id}/statuses?limit=20&${active.query}`,
      label: `${active.label} by ${displayName(account)}`,
      empty: active.key === 'media' ? 'No posts with media yet.' : 'No posts yet.',
    });
    region.replaceChildren(headerEl, featuredTags(account), tabs(account), feed.el);
    region.setAttribute('aria-busy', 'false');
  })().catch((error) => {
    region.replaceChildren(h('p', { class: 'feed-status' }, error.status === 404 ? `There is no account @${username}.` : error.message));
    region.setAttribute('aria-busy', 'false');
  });

  return () => feed?.destroy();
}
