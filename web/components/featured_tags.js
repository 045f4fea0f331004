// A profile's featured hashtags (GET /api/v1/accounts/:id/featured_tags), each with how many posts carry
// it; on one's own profile, featuring a tag (POST /api/v1/featured_tags) and removing one (DELETE).

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import { isMe } from '../state.js';

export function featuredTags(account) {
  const el = h('section', { class: 'featured-tags', 'aria-label': 'Featured hashtags' });
  const mine = isMe(account);

  function chip(tag) {
    const remove = mine
      ? h('button', {
          type: 'button',
          class: 'link-button',
          'aria-label': `Stop featuring #${tag.name}`,
          onclick: async () => {
            try {
              await api(`/api/v1/featured_tags/${tag.id}`, { method: 'DELETE' });
              load();
            } catch (error) {
              toast(error.message, 'error');
            }
          },
        }, '×')
      : null;
    const count = Number(tag.statuses_count);
    return h('li', { class: 'featured-tag' }, h('a', { href: `/tags/${encodeURIComponent(tag.name)}` }, `#${tag.name}`), h('span', { class: 'count' }, ` ${count} ${count === 1 ? 'post' : 'posts'}`), remove);
  }

  function form() {
    const input = h('input', { type: 'text', name: 'name', id: 'feature-tag', placeholder: 'hashtag', autocomplete: 'off' });
    return h('form', {
      class: 'feature-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api('/api/v1/featured_tags', { method: 'POST', json: { name: input.value.trim() } });
          input.value = '';
          load();
        } catch (error) {
          toast(error.message, 'error');
        }
      },
    }, h('label', { for: 'feature-tag' }, 'Feature a hashtag '), input, h('button', { type: 'submit', class: 'secondary' }, 'Feature'));
  }

  async function load() {
    try {
      const tags = await api(`/api/v1/accounts/${account.id}/featured_tags`);
      el.replaceChildren(
        tags.length ? h('ul', { class: 'featured-list' }, tags.map(chip)) : null,
        mine ? form() : null,
      );
    } catch (error) {
      toast(error.message, 'error');
    }
  }
  load();
  return el;
}
