// Direct messages: your conversations (GET /api/v1/conversations), the latest message of each, unread ones
// marked; opening one marks it read. New messages arrive live from the `direct` stream.

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import * as stream from '../stream.js';
import { displayName } from '../components/account.js';
import { statusCard } from '../components/status.js';

function row(conversation, list) {
  const people = conversation.accounts.map(displayName).join(', ');
  const item = h(
    'li',
    { class: ['conversation', conversation.unread && 'unread'], dataset: { id: conversation.id } },
    h('p', { class: 'conversation-with' }, conversation.unread ? h('strong', {}, `New · with ${people}`) : `With ${people}`),
    conversation.last_status ? statusCard(conversation.last_status) : h('p', {}, 'No message you can see.'),
    h(
      'div',
      { class: 'conversation-actions' },
      conversation.unread
        ? h('button', {
            type: 'button',
            class: 'link-button',
            onclick: async () => {
              try {
                item.replaceWith(row(await api(`/api/v1/conversations/${conversation.id}/read`, { method: 'POST' }), list));
              } catch (error) {
                toast(error.message, 'error');
              }
            },
          }, 'Mark as read')
        : null,
      h('button', {
        type: 'button',
        class: 'link-button',
        onclick: async () => {
          try {
            await api(`/api/v1/conversations/${conversation.id}`, { method: 'DELETE' });
            item.remove();
          } catch (error) {
            toast(error.message, 'error');
          }
        },
      }, 'Remove'),
    ),
  );
  return item;
}

export function render(main) {
  const list = h('ul', { class: 'conversations', 'aria-label': 'Conversations' });
  main.append(h('h1', { class: 'screen-title' }, 'Messages'), h('p', { class: 'hint' }, 'Posts with "Mentioned people only" visibility.'), list);
  const show = (conversation) => {
    list.querySelector(`[data-id="${CSS.escape(conversation.id)}"]`)?.remove();
    list.prepend(row(conversation, list));
  };
  api('/api/v1/conversations?limit=40')
    .then((items) => {
      if (!items.length) list.append(h('li', { class: 'empty' }, 'No direct messages yet.'));
      for (const item of items) list.append(row(item, list));
    })
    .catch((error) => toast(error.message, 'error'));
  const unsubscribe = stream.subscribe('direct');
  const off = stream.on('conversation', (conversation) => {
    list.querySelector('.empty')?.remove();
    show(conversation);
  });
  return () => {
    off();
    unsubscribe();
  };
}
