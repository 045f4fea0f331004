// A hashtag's page: its posts, newest first (GET /api/v1/timelines/tag/:tag), live from the hashtag's stream;
// signed in, a Follow button (POST /api/v1/tags/:name/follow) brings its public posts to your home timeline.

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import * as stream from '../stream.js';
import { session } from '../state.js';
import { timeline } from '../components/timeline.js';

function followButton(name) {
  const path = `/api/v1/tags/${encodeURIComponent(name)}`;
  const button = h('button', { type: 'button', class: 'secondary tag-follow', disabled: true }, 'Follow');
  const show = (tag) => {
    button.dataset.following = tag.following ? 'true' : 'false';
    button.setAttribute('aria-pressed', tag.following ? 'true' : 'false');
    button.textContent = tag.following ? 'Unfollow' : 'Follow';
    button.setAttribute('aria-label', `${tag.following ? 'Unfollow' : 'Follow'} #${tag.name}`);
    button.disabled = false;
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      show(await api(`${path}/${button.dataset.following === 'true' ? 'unfollow' : 'follow'}`, { method: 'POST' }));
    } catch (error) {
      toast(error.message, 'error');
      button.disabled = false;
    }
  });
  api(path).then(show).catch((error) => toast(error.message, 'error'));
  return button;
}

export function render(main, { tag }) {
  const name = decodeURIComponent(tag);
  const normalized = name.normalize('NFKC').toLowerCase();
  document.title = `#${name} · Chirp`;
  const feed = timeline({
    first: `/api/v1/timelines/tag/${encodeURIComponent(name)}?limit=20`,
    label: `Posts tagged #${name}`,
    empty: `No posts with #${name} yet.`,
  });
  const head = h('div', { class: 'tag-head' }, h('h1', { class: 'screen-title' }, `#${name}`));
  main.append(head, feed.el);
  const undo = [];
  if (session.me) {
    head.append(followButton(name), h('a', { href: '/followed_tags', class: 'hint' }, 'Followed hashtags'));
    undo.push(
      stream.subscribe('hashtag', normalized),
      stream.on('update', (status, from) => from[0] === 'hashtag' && from[1] === normalized && feed.offer([status])),
      stream.on('delete', (id) => feed.remove(String(id))),
    );
  }
  return () => {
    undo.forEach((off) => off());
    feed.destroy();
  };
}
