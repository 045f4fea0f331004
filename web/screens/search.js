// Search: posts, accounts and hashtags (GET /api/v2/search), with the query operators explained.

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import { ui } from '../state.js';
import { accountRow, hashtagRow } from '../components/account.js';
import { statusCard } from '../components/status.js';

const PAGE = 20;
const OPERATORS = [
  ['from:alice', 'posts by @alice'],
  ['#cats', 'posts with the hashtag'],
  ['has:media', 'posts with images or video'],
  ['since:2025-01-31', 'posted that day or later'],
  ['until:2025-02-01', 'posted before that day'],
  ['is:reply', 'replies only (-is:reply: none)'],
  ['"exact words"', 'the words together, in order'],
  ['-word', 'posts without the word'],
];

export function render(main, _params, query) {
  const q = (query.get('q') || '').trim();
  const sort = query.get('sort') === 'newest' ? 'newest' : 'relevant';
  const input = h('input', { type: 'search', name: 'q', id: 'search-q', value: q, placeholder: 'Search posts, people and hashtags', autocomplete: 'off', enterkeyhint: 'search' });
  const sortSelect = h('select', { name: 'sort', 'aria-label': 'Order of posts' }, h('option', { value: 'relevant' }, 'Most relevant'), h('option', { value: 'newest' }, 'Newest first'));
  sortSelect.value = sort;
  const go = (event) => {
    event?.preventDefault();
    const text = input.value.trim();
    if (text) ui.navigate(`/search?${new URLSearchParams({ q: text, ...(sortSelect.value === 'newest' ? { sort: 'newest' } : {}) })}`);
  };
  sortSelect.addEventListener('change', go);
  const form = h(
    'form',
    { class: 'search-form', role: 'search', onsubmit: go },
    h('label', { class: 'visually-hidden', for: 'search-q' }, 'Search'),
    input,
    sortSelect,
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
  );
  const help = h(
    'details',
    { class: 'operators' },
    h('summary', {}, 'Search operators'),
    h('dl', {}, OPERATORS.map(([op, meaning]) => [h('dt', {}, h('code', {}, op)), h('dd', {}, meaning)])),
  );
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  main.append(h('h1', { class: 'screen-title' }, 'Search'), form, help, results);
  document.title = q ? `${q} · Search · Chirp` : 'Search · Chirp';
  if (!q) {
    queueMicrotask(() => input.focus());
    return null;
  }

  let offset = 0;
  const posts = h('div', { class: 'feed', role: 'feed', 'aria-label': 'Posts found' });
  const more = h('button', { type: 'button', class: 'load-more', hidden: true, onclick: () => loadPosts() }, 'More posts');

  async function loadPosts() {
    more.disabled = true;
    try {
      const found = await api('/api/v2/search', { query: { q, type: 'statuses', limit: PAGE, offset, sort } });
      posts.append(...found.statuses.map((s) => statusCard(s)));
      offset += found.statuses.length;
      more.hidden = found.statuses.length < PAGE;
    } catch (error) {
      toast(error.message, 'error');
    } finally {
      more.disabled = false;
    }
  }

  (async () => {
    results.replaceChildren(h('p', { class: 'feed-status' }, 'Searching…'));
    const found = await api('/api/v2/search', { query: { q, limit: PAGE, sort } });
    offset = found.statuses.length;
    posts.append(...found.statuses.map((s) => statusCard(s)));
    more.hidden = found.statuses.length < PAGE;
    const sections = [];
    if (found.accounts.length) {
      sections.push(h('section', { class: 'result-section' }, h('h2', {}, 'People'), h('ul', { class: 'plain-list' }, found.accounts.map((a) => h('li', {}, accountRow(a))))));
    }
    if (found.hashtags.length) {
      sections.push(h('section', { class: 'result-section' }, h('h2', {}, 'Hashtags'), h('ul', { class: 'plain-list' }, found.hashtags.map((t) => h('li', {}, hashtagRow(t))))));
    }
    sections.push(
      h('section', { class: 'result-section' }, h('h2', {}, 'Posts'), found.statuses.length ? posts : h('p', { class: 'feed-status' }, 'No posts found.'), more),
    );
    results.replaceChildren(...sections);
  })().catch((error) => {
    results.replaceChildren(h('p', { class: 'feed-status', role: 'alert' }, error.message));
  });
  return null;
}
