// Follow requests: the accounts asking to follow a locked account, each with Accept and Reject. An answer
// takes effect at once (POST /api/v1/follow_requests/:id/authorize or /reject) and the row says so.

import { api } from '../api.js';
import { h, toast } from '../dom.js';
import { session, ui } from '../state.js';
import { accountRow } from '../components/account.js';
import { timeline } from '../components/timeline.js';

function answerButtons(account) {
  const box = h('div', { class: 'request-actions' });
  const answer = async (verb, done) => {
    for (const button of box.querySelectorAll('button')) button.disabled = true;
    try {
      await api(`/api/v1/follow_requests/${account.id}/${verb}`, { method: 'POST' });
      box.replaceChildren(h('span', { class: 'request-answer', role: 'status' }, done));
      if (session.me?.source) session.me.source.follow_requests_count = Math.max(0, (session.me.source.follow_requests_count || 1) - 1);
    } catch (error) {
      toast(error.message, 'error');
      for (const button of box.querySelectorAll('button')) button.disabled = false;
    }
  };
  box.append(
    h('button', { type: 'button', class: 'primary', 'aria-label': `Accept @${account.acct}`, onclick: () => answer('authorize', 'Accepted: now follows you') }, 'Accept'),
    h('button', { type: 'button', class: 'secondary', 'aria-label': `Reject @${account.acct}`, onclick: () => answer('reject', 'Rejected') }, 'Reject'),
  );
  return box;
}

export function requestItem(account) {
  return h('article', { class: 'follow-request', dataset: { id: account.id } }, accountRow(account, answerButtons(account)));
}

export function render(main) {
  if (!session.me) {
    main.append(h('h1', { class: 'screen-title' }, 'Follow requests'), h('p', {}, 'Sign in to review who asks to follow you.'));
    ui.signIn('/follow_requests');
    return null;
  }
  document.title = 'Follow requests · Chirp';
  const feed = timeline({
    first: '/api/v1/follow_requests?limit=40',
    render: requestItem,
    label: 'Follow requests',
    empty: session.me.locked
      ? 'Nobody is waiting. When someone asks to follow you, they show here.'
      : 'Nobody is waiting. Your account is not locked, so people follow you without asking.',
  });
  main.append(h('h1', { class: 'screen-title' }, 'Follow requests'), feed.el);
  return () => feed.destroy();
}
