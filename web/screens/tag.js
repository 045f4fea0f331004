// A hashtag's page: its posts, newest first (GET /api/v1/timelines/tag/:tag), live from the hashtag's stream.

import { h } from '../dom.js';
import * as stream from '../stream.js';
import { session } from '../state.js';
import { timeline } from '../components/timeline.js';

export function render(main, { tag }) {
  const name = decodeURIComponent(tag);
  const normalized = name.normalize('NFKC').toLowerCase();
  document.title = `#${name} · Chirp`;
  const feed = timeline({
    first: `/api/v1/timelines/tag/${encodeURIComponent(name)}?limit=20`,
    label: `Posts tagged #${name}`,
    empty: `No posts with #${name} yet.`,
  });
  main.append(h('h1', { class: 'screen-title' }, `#${name}`), feed.el);
  const undo = [];
  if (session.me) {
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
