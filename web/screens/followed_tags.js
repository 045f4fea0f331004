// The hashtags you follow (GET /api/v1/followed_tags): each links to its page and can be unfollowed here. A
// followed hashtag's public posts come to your home timeline, from anyone.

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import { session, ui } from '../state.js';
import { timeline } from '../components/timeline.js';

function tagRow(tag) {
  const button = h('button', {
    type: 'button',
    class: 'secondary',
    'aria-label': `Unfollow #${tag.name}`,
    onclick: async () => {
      button.disabled = true;
      try {
        await api(`/api/v1/tags/${encodeURIComponent(tag.name)}/unfollow`, { method: 'POST' });
        row.replaceChildren(h('span', {}, `#${tag.name}`), h('span', { class: 'request-answer', role: 'status' }, 'Unfollowed'));
      } catch (error) {
        toast(error.message, 'error');
        button.disabled = false;
      }
    },
  }, 'Unfollow');
  const row = h('article', { class: 'followed-tag', dataset: { id: tag.id, tag: tag.name } }, h('a', { href: `/tags/${encodeURIComponent(tag.name)}` }, `#${tag.name}`), button);
  return row;
}

export function render(main) {
  main.append(h('h1', { class: 'screen-title' }, 'Followed hashtags'));
  if (!session.me) {
    main.append(h('p', {}, 'Sign in to see the hashtags you follow.'));
    ui.signIn('/followed_tags');
    return null;
  }
  document.title = 'Followed hashtags · Chirp';
  const feed = timeline({
    first: '/api/v1/followed_tags?limit=40',
    render: tagRow,
    label: 'Followed hashtags',
    empty: 'You follow no hashtags yet: "Follow" on a hashtag’s page brings its posts to your home timeline.',
  });
  main.append(feed.el);
  return () => feed.destroy();
}
