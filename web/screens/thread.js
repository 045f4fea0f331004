// A conversation: the ancestors above, the post, then the replies as a tree, indented, each branch
// collapsible, long lists of replies shortened behind "Show more".

import { api } from '../api.js';
import { compareIds, h, plainText, toast } from '../dom.js';
import * as stream from '../stream.js';
import { session } from '../state.js';
import { composer } from '../components/compose.js';
import { statusCard } from '../components/status.js';
import { displayName } from '../components/account.js';

const FIRST_REPLIES = 5; // replies shown per post before "Show more"
const MAX_DEPTH = 6; // deeper replies continue on their own thread page

function childrenOf(statuses) {
  const children = new Map();
  for (const s of statuses) {
    if (!children.has(s.in_reply_to_id)) children.set(s.in_reply_to_id, []);
    children.get(s.in_reply_to_id).push(s);
  }
  for (const list of children.values()) list.sort((a, b) => compareIds(a.id, b.id));
  return children;
}

function countDescendants(id, children) {
  let total = 0;
  for (const child of children.get(id) || []) total += 1 + countDescendants(child.id, children);
  return total;
}

export function render(main, { id }) {
  const title = h('h1', { class: 'screen-title' }, 'Post');
  const region = h('div', { class: 'thread', 'aria-busy': 'true' }, h('p', { class: 'feed-status' }, 'Loading…'));
  main.append(title, region);
  let known = new Set();
  let children = new Map();
  let focusedStatus = null;

  function branch(parentId, depth) {
    const replies = children.get(parentId) || [];
    if (!replies.length) return null;
    const list = h('ol', { class: ['replies', `depth-${Math.min(depth, MAX_DEPTH)}`] });
    const shown = (item) => list.append(item);
    replies.forEach((reply, index) => {
      const li = replyItem(reply, depth);
      if (index >= FIRST_REPLIES) li.hidden = true;
      shown(li);
    });
    if (replies.length > FIRST_REPLIES) {
      const more = h(
        'li',
        { class: 'show-more' },
        h('button', {
          type: 'button',
          class: 'link-button',
          onclick: () => {
            for (const li of list.children) li.hidden = false;
            more.remove();
          },
        }, `Show ${replies.length - FIRST_REPLIES} more ${replies.length - FIRST_REPLIES === 1 ? 'reply' : 'replies'}`),
      );
      list.append(more);
    }
    return list;
  }

  function replyItem(reply, depth) {
    const li = h('li', { class: 'reply', dataset: { replyId: reply.id } }, statusCard(reply));
    const below = children.get(reply.id) || [];
    if (!below.length) return li;
    if (depth >= MAX_DEPTH) {
      li.append(h('a', { class: 'continue', href: `/statuses/${reply.id}` }, `Continue this thread (${countDescendants(reply.id, children)} more)`));
      return li;
    }
    const nested = branch(reply.id, depth + 1);
    const total = countDescendants(reply.id, children);
    const toggle = h('button', {
      type: 'button',
      class: 'collapse',
      'aria-expanded': 'true',
      onclick: () => {
        const open = toggle.getAttribute('aria-expanded') === 'true';
        toggle.setAttribute('aria-expanded', open ? 'false' : 'true');
        nested.hidden = open;
        toggle.textContent = open ? `Show ${total} ${total === 1 ? 'reply' : 'replies'}` : 'Hide replies';
      },
    }, 'Hide replies');
    li.append(toggle, nested);
    return li;
  }

  function draw(status, context) {
    focusedStatus = status;
    known = new Set([status.id, ...context.ancestors.map((s) => s.id), ...context.descendants.map((s) => s.id)]);
    children = childrenOf(context.descendants);
    const focusedCard = statusCard(status, { focused: true });
    const parts = [];
    if (context.ancestors.length) {
      parts.push(h('ol', { class: 'ancestors', 'aria-label': 'Earlier in the conversation' }, context.ancestors.map((s) => h('li', {}, statusCard(s)))));
    }
    parts.push(focusedCard);
    if (session.me) {
      parts.push(h('div', { class: 'compose-inline reply-box' }, composer({ replyTo: status, onPosted: () => reload() }).el));
    }
    const replies = branch(status.id, 1);
    parts.push(
      h('section', { class: 'descendants', 'aria-label': 'Replies' }, replies || h('p', { class: 'feed-status' }, 'No replies yet.')),
    );
    region.replaceChildren(...parts);
    region.setAttribute('aria-busy', 'false');
    document.title = `${displayName(status.account)}: “${plainText(status.content).slice(0, 60)}” · Chirp`;
    return focusedCard;
  }

  async function load() {
    const [status, context] = await Promise.all([api(`/api/v1/statuses/${id}`), api(`/api/v1/statuses/${id}/context`)]);
    return draw(status, context);
  }

  async function reload() {
    const scroll = window.scrollY;
    try {
      await load();
      window.scrollTo({ top: scroll });
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  load()
    .then((card) => {
      card.scrollIntoView({ block: 'start' });
      card.focus({ preventScroll: true });
    })
    .catch((error) => {
      region.replaceChildren(h('p', { class: 'feed-status' }, error.status === 404 ? 'This post does not exist, or you cannot see it.' : error.message));
      region.setAttribute('aria-busy', 'false');
    });

  const posted = (event) => {
    if (known.has(event.detail.in_reply_to_id)) reload(); // a reply written in the compose dialog
  };
  window.addEventListener('chirp:posted', posted);
  const unsubscribe = [
    () => window.removeEventListener('chirp:posted', posted),
    // A reply to anything in this conversation arrived live: redraw the tree with it.
    stream.on('update', (status) => {
      if (status.in_reply_to_id && known.has(status.in_reply_to_id) && !known.has(status.id)) reload();
    }),
    stream.on('delete', (deleted) => {
      if (known.has(String(deleted)) && String(deleted) !== focusedStatus?.id) reload();
    }),
  ];
  return () => unsubscribe.forEach((off) => off());
}
