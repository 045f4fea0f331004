// Your bookmarks (GET /api/v1/bookmarks), newest bookmark first, paged by the Link header (by bookmark, not
// by post). A card unbookmarked here stays until the next visit, so a slip can be undone on the spot.

import { h } from '../dom.js';
import { session, ui } from '../state.js';
import { timeline } from '../components/timeline.js';

export function render(main) {
  main.append(h('h1', { class: 'screen-title' }, 'Bookmarks'));
  if (!session.me) {
    main.append(h('p', {}, 'Sign in to see the posts you saved.'));
    ui.signIn('/bookmarks');
    return null;
  }
  document.title = 'Bookmarks · Chirp';
  const feed = timeline({
    first: '/api/v1/bookmarks?limit=20',
    label: 'Bookmarks',
    empty: 'No bookmarks yet: the bookmark button on a post saves it here.',
  });
  main.append(feed.el);
  return () => feed.destroy();
}
