// Lists (issue 24): `/lists` makes and names them; `/lists/:id` is one list: its timeline, live from the
// `list` stream (`update` and `delete` frames of ["list", id]), its rules (title, which replies come in,
// `exclusive`: its members' posts leave home) and its members, chosen among the accounts you follow.

import { api, page } from '../api.js';
import { h, toast } from '../dom.js';
import * as stream from '../stream.js';
import { session, ui } from '../state.js';
import { accountRow } from '../components/account.js';
import { removeStatus } from '../components/status.js';
import { timeline } from '../components/timeline.js';

const POLICIES = [
  ['list', 'Replies to members of the list'],
  ['followed', 'Replies to anyone you follow'],
  ['none', 'No replies to others'],
];

function signedIn(main, path, what) {
  if (session.me) return true;
  main.append(h('p', {}, `Sign in to ${what}.`));
  ui.signIn(path);
  return false;
}

async function attempt(work, ...controls) {
  for (const control of controls) control.disabled = true;
  try {
    return await work();
  } catch (error) {
    toast(error.message, 'error');
    return undefined;
  } finally {
    for (const control of controls) control.disabled = false;
  }
}

// /lists ---------------------------------------------------------------------------------------------

function listItem(list) {
  return h(
    'li',
    { class: 'list-item', dataset: { id: list.id } },
    h('a', { href: `/lists/${list.id}`, class: 'list-link' }, list.title),
    h('span', { class: 'hint' }, list.exclusive ? 'exclusive' : ''),
  );
}

export function render(main) {
  main.append(h('h1', { class: 'screen-title' }, 'Lists'));
  if (!signedIn(main, '/lists', 'sort the accounts you follow into lists')) return null;
  document.title = 'Lists · Chirp';
  const items = h('ul', { class: 'lists', 'aria-label': 'Your lists' });
  const title = h('input', { type: 'text', name: 'title', maxlength: '100', required: true, placeholder: 'A new list', 'aria-label': 'New list title' });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create list');
  const form = h('form', {
    class: 'list-create',
    onsubmit: async (event) => {
      event.preventDefault();
      const made = await attempt(() => api('/api/v1/lists', { method: 'POST', json: { title: title.value } }), create);
      if (!made) return;
      title.value = '';
      items.querySelector('.empty')?.remove();
      items.append(listItem(made));
    },
  }, title, create);
  main.append(form, items, h('p', { class: 'hint' }, h('a', { href: '/followed_tags' }, 'Followed hashtags'), ' · ', h('a', { href: '/bookmarks' }, 'Bookmarks')));
  api('/api/v1/lists')
    .then((lists) => {
      if (!lists.length) items.append(h('li', { class: 'empty' }, 'No lists yet.'));
      for (const list of lists) items.append(listItem(list));
    })
    .catch((error) => toast(error.message, 'error'));
  return null;
}

// /lists/:id -----------------------------------------------------------------------------------------

function settings(list, heading) {
  const title = h('input', { type: 'text', name: 'title', maxlength: '100', required: true, value: list.title, 'aria-label': 'List title' });
  const policy = h('select', { name: 'replies_policy', 'aria-label': 'Replies shown' },
    POLICIES.map(([value, label]) => h('option', { value, selected: value === list.replies_policy ? true : undefined }, label)));
  policy.value = list.replies_policy;
  const exclusive = h('input', { type: 'checkbox', name: 'exclusive', checked: list.exclusive });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const remove = h('button', {
    type: 'button',
    class: 'secondary danger',
    onclick: async () => {
      if (!window.confirm(`Delete the list “${list.title}”?`)) return;
      const done = await attempt(() => api(`/api/v1/lists/${list.id}`, { method: 'DELETE' }), remove);
      if (done !== undefined) {
        toast('List deleted.');
        ui.navigate('/lists');
      }
    },
  }, 'Delete list');
  return h('form', {
    class: 'list-settings',
    'aria-label': 'List settings',
    onsubmit: async (event) => {
      event.preventDefault();
      const json = { title: title.value, replies_policy: policy.value, exclusive: exclusive.checked };
      const changed = await attempt(() => api(`/api/v1/lists/${list.id}`, { method: 'PUT', json }), save);
      if (!changed) return;
      Object.assign(list, changed);
      heading.textContent = changed.title;
      document.title = `${changed.title} · Chirp`;
      toast('List saved.');
    },
  },
  h('label', {}, 'Title ', title),
  h('label', {}, 'Show ', policy),
  h('label', { class: 'check' }, exclusive, ' Exclusive: members’ posts leave the home timeline'),
  h('div', { class: 'list-settings-actions' }, save, remove));
}

function members(list, onChange) {
  const inList = h('ul', { class: 'list-members', 'aria-label': 'Members' });
  const candidates = h('ul', { class: 'list-candidates', 'aria-label': 'People you follow' });
  const ids = new Set();

  const memberRow = (account) => {
    const button = h('button', {
      type: 'button',
      class: 'secondary',
      'aria-label': `Remove @${account.acct} from the list`,
      onclick: async () => {
        const done = await attempt(() => api(`/api/v1/lists/${list.id}/accounts`, { method: 'DELETE', json: { account_ids: [account.id] } }), button);
        if (done === undefined) return;
        ids.delete(account.id);
        row.remove();
        candidates.append(candidateRow(account));
        onChange();
      },
    }, 'Remove');
    const row = h('li', { dataset: { id: account.id } }, accountRow(account, button));
    return row;
  };
  const candidateRow = (account) => {
    const button = h('button', {
      type: 'button',
      class: 'primary',
      'aria-label': `Add @${account.acct} to the list`,
      onclick: async () => {
        const done = await attempt(() => api(`/api/v1/lists/${list.id}/accounts`, { method: 'POST', json: { account_ids: [account.id] } }), button);
        if (done === undefined) return;
        ids.add(account.id);
        row.remove();
        inList.append(memberRow(account));
        onChange();
      },
    }, 'Add');
    const row = h('li', { dataset: { id: account.id } }, accountRow(account, button));
    return row;
  };

  (async () => {
    try {
      const current = await page(`/api/v1/lists/${list.id}/accounts`, { query: { limit: 80 } });
      for (const account of current.items) {
        ids.add(account.id);
        inList.append(memberRow(account));
      }
      const following = await page(`/api/v1/accounts/${session.me.id}/following`, { query: { limit: 80 } });
      for (const account of following.items) if (!ids.has(account.id)) candidates.append(candidateRow(account));
    } catch (error) {
      toast(error.message, 'error');
    }
  })();
  return h('details', { class: 'list-people' },
    h('summary', {}, 'Members'),
    inList,
    h('h3', {}, 'Add people you follow'),
    candidates);
}

function renderList(main, { id }) {
  const heading = h('h1', { class: 'screen-title' }, 'List');
  main.append(h('p', {}, h('a', { href: '/lists' }, '← Lists')), heading);
  if (!signedIn(main, `/lists/${id}`, 'see your lists')) return null;
  const slot = h('div', { class: 'list-head' });
  main.append(slot);
  let feed = null;
  const newFeed = () => timeline({
    first: `/api/v1/timelines/list/${id}?limit=20`,
    label: 'List timeline',
    empty: 'Nothing in this list yet: add people you follow, and their posts come here.',
  });
  feed = newFeed();
  main.append(feed.el);
  api(`/api/v1/lists/${id}`)
    .then((list) => {
      heading.textContent = list.title;
      document.title = `${list.title} · Chirp`;
      // Members changed: the server rebuilt the list's timeline; read it again.
      slot.append(settings(list, heading), members(list, () => {
        const fresh = newFeed();
        feed.el.replaceWith(fresh.el);
        feed.destroy();
        feed = fresh;
      }));
    })
    .catch((error) => {
      heading.textContent = error.status === 404 ? 'No such list' : 'List';
      toast(error.message, 'error');
    });
  const ours = (from) => from && from[0] === 'list' && String(from[1]) === String(id);
  const undo = [
    stream.subscribe('list', id),
    stream.on('update', (status, from) => ours(from) && feed.offer([status])),
    stream.on('delete', (postId, from) => {
      feed.remove(String(postId));
      if (ours(from)) removeStatus(String(postId));
    }),
  ];
  return () => {
    undo.forEach((off) => off());
    feed.destroy();
  };
}

export const one = { render: renderList };
