// Explore: trending hashtags and posts (GET /api/v1/trends/*), accounts to follow (GET /api/v2/suggestions,
// with Follow and Dismiss) and a people search (GET /api/v1/accounts/search).

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import { session } from '../state.js';
import { accountRow, hashtagRow } from '../components/account.js';
import { statusCard } from '../components/status.js';

/** "N people" from a trending tag's history: its accounts on the last two days. */
function talking(tag) {
  const people = (tag.history || []).slice(0, 2).reduce((sum, day) => sum + Number(day.accounts || 0), 0);
  return `${people} ${people === 1 ? 'person' : 'people'} talking`;
}

function section(title, label, ...children) {
  return h('section', { class: 'result-section', 'aria-label': label }, h('h2', {}, title), ...children);
}

function peopleSearch() {
  const input = h('input', { type: 'search', name: 'q', id: 'people-q', placeholder: 'Search people', autocomplete: 'off' });
  const found = h('ul', { class: 'plain-list', 'aria-label': 'People found', 'aria-live': 'polite' });
  async function go(event) {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    try {
      const accounts = await api('/api/v1/accounts/search', { query: { q, limit: 20 } });
      found.replaceChildren(...(accounts.length ? accounts.map((a) => h('li', {}, accountRow(a))) : [h('li', { class: 'feed-status' }, 'Nobody found.')]));
    } catch (error) {
      toast(error.message, 'error');
    }
  }
  return section(
    'People',
    'People search',
    h('form', { class: 'search-form', role: 'search', onsubmit: go }, h('label', { class: 'visually-hidden', for: 'people-q' }, 'Search people'), input, h('button', { type: 'submit', class: 'primary' }, 'Search')),
    found,
  );
}

function suggestionRow(suggestion, remove) {
  const { account } = suggestion;
  const act = (label, run) =>
    h('button', {
      type: 'button',
      class: label === 'Follow' ? 'primary' : 'secondary',
      'aria-label': `${label} @${account.acct}`,
      onclick: async (event) => {
        event.currentTarget.disabled = true;
        try {
          await run();
          remove();
        } catch (error) {
          toast(error.message, 'error');
          event.currentTarget.disabled = false;
        }
      },
    }, label);
  return accountRow(
    account,
    h('span', { class: 'suggestion-actions' },
      act('Follow', () => api(`/api/v1/accounts/${account.id}/follow`, { method: 'POST' })),
      act('Dismiss', () => api(`/api/v1/suggestions/${account.id}`, { method: 'DELETE' }))),
  );
}

export function render(main) {
  document.title = 'Explore · Chirp';
  const tags = h('ul', { class: 'plain-list', 'aria-label': 'Trending hashtags' });
  const posts = h('div', { class: 'feed', role: 'feed', 'aria-label': 'Trending posts' });
  const suggested = h('ul', { class: 'plain-list', 'aria-label': 'Suggested accounts' });
  main.append(
    h('h1', { class: 'screen-title' }, 'Explore'),
    session.me ? peopleSearch() : null,
    section('Trending hashtags', 'Trending hashtags', tags),
    session.me ? section('Who to follow', 'Who to follow', suggested) : null,
    section('Trending posts', 'Trending posts', posts),
  );
  const failed = (where) => (error) => where.replaceChildren(h('p', { class: 'feed-status', role: 'alert' }, error.message));
  api('/api/v1/trends/tags', { query: { limit: 10 } }).then((found) => {
    tags.replaceChildren(...(found.length ? found.map((t) => h('li', { class: 'trend' }, hashtagRow(t), h('span', { class: 'trend-people' }, talking(t)))) : [h('li', { class: 'feed-status' }, 'Nothing is trending yet.')]));
  }, failed(tags));
  api('/api/v1/trends/statuses', { query: { limit: 20 } }).then((found) => {
    posts.replaceChildren(...(found.length ? found.map((s) => statusCard(s)) : [h('p', { class: 'feed-status' }, 'No trending posts yet.')]));
  }, failed(posts));
  if (session.me) {
    api('/api/v2/suggestions', { query: { limit: 10 } }).then((found) => {
      if (!found.length) suggested.replaceChildren(h('li', { class: 'feed-status' }, 'No suggestions right now.'));
      else suggested.replaceChildren(...found.map((s) => { const li = h('li', {}); li.append(suggestionRow(s, () => li.remove())); return li; }));
    }, failed(suggested));
  }
  return null;
}

