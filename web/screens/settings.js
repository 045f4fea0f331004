// Settings: the accounts you block and mute (with when each mute ends), and your filters (issue 22). Unblock,
// unmute, delete a filter, and create or edit one: keywords (whole word or not), where it applies, what it
// does (warn, hide, blur) and when it ends. `/settings?filter=new` opens a new filter at once.

import { api, page } from '../api.js';
import { fullDate, h, toast } from '../dom.js';
import { avatar, displayName, profilePath } from '../components/account.js';
import { dialog } from '../components/safety.js';

const CONTEXTS = [
  { key: 'home', label: 'Home and lists' },
  { key: 'notifications', label: 'Notifications' },
  { key: 'public', label: 'Public timelines' },
  { key: 'thread', label: 'Conversations' },
  { key: 'account', label: 'Profiles' },
];
const ACTIONS = [
  { key: 'warn', label: 'Hide behind a warning', hint: 'show "Filtered" with the title and a button to show it' },
  { key: 'blur', label: 'Blur the media', hint: 'the post shows; its pictures and videos are blurred' },
  { key: 'hide', label: 'Hide completely', hint: 'as if the post did not exist' },
];
const EXPIRIES = [
  { seconds: '', label: 'Never' },
  { seconds: '1800', label: '30 minutes' },
  { seconds: '3600', label: '1 hour' },
  { seconds: '21600', label: '6 hours' },
  { seconds: '43200', label: '12 hours' },
  { seconds: '86400', label: '1 day' },
  { seconds: '604800', label: '1 week' },
];
const KEEP = 'keep';

function accountRow(account, extra, buttonLabel, onClick) {
  return h(
    'li',
    { class: 'settings-row', dataset: { accountId: account.id } },
    avatar(account, 'sm'),
    h('span', { class: 'settings-who' }, h('a', { href: profilePath(account) }, displayName(account)), ' ', h('span', { class: 'acct' }, `@${account.acct}`), extra),
    h('button', { type: 'button', class: 'secondary', 'aria-label': `${buttonLabel} @${account.acct}`, onclick: onClick }, buttonLabel),
  );
}

function section(title, id) {
  const list = h('ul', { class: 'settings-list', 'aria-labelledby': id });
  const status = h('p', { class: 'feed-status' }, 'Loading…');
  const el = h('section', { class: 'settings-section' }, h('h2', { id }, title), list, status);
  return { el, list, status };
}

async function listAll(path) {
  const items = [];
  let next = path;
  for (let i = 0; next && i < 10; i += 1) {
    const got = await page(next);
    items.push(...got.items);
    next = got.next;
  }
  return items;
}

function accountSection(title, id, path, buttonLabel, action, done, describe) {
  const part = section(title, id);
  async function load() {
    try {
      const accounts = await listAll(path);
      part.list.replaceChildren(
        ...accounts.map((account) => {
          const row = accountRow(account, describe(account), buttonLabel, async (event) => {
            event.currentTarget.disabled = true;
            try {
              await api(`/api/v1/accounts/${account.id}/${action}`, { method: 'POST' });
              row.remove();
              toast(`${done} @${account.acct}.`);
              if (!part.list.children.length) part.status.textContent = 'Nobody.';
            } catch (error) {
              toast(error.message, 'error');
              event.currentTarget.disabled = false;
            }
          });
          return row;
        }),
      );
      part.status.textContent = accounts.length ? '' : 'Nobody.';
    } catch (error) {
      part.status.textContent = error.message;
    }
  }
  load();
  return part.el;
}

// Filters ----------------------------------------------------------------------------------------------

function keywordRow(keyword = { keyword: '', whole_word: true }) {
  const text = h('input', { type: 'text', class: 'keyword-text', 'aria-label': 'Keyword or phrase', value: keyword.keyword, required: true });
  const whole = h('input', { type: 'checkbox', class: 'keyword-whole', checked: keyword.whole_word });
  const row = h(
    'li',
    { class: 'keyword-row', dataset: keyword.id ? { id: keyword.id } : {} },
    text,
    h('label', { class: 'check' }, whole, ' Whole word'),
    h('button', { type: 'button', class: 'link-button', 'aria-label': 'Remove keyword', onclick: () => { row.hidden = true; row.dataset.destroy = 'true'; } }, 'Remove'),
  );
  row.read = () => ({ id: keyword.id, keyword: text.value.trim(), whole_word: whole.checked, destroy: row.dataset.destroy === 'true' });
  return row;
}

/** The filter editor, new (`filter` null) or existing; `onSaved(filter)`. */
export function filterEditor(filter, onSaved) {
  const editing = Boolean(filter);
  const title = h('input', { type: 'text', name: 'title', required: true, value: filter?.title || '' });
  title.id = 'filter-title';
  const keywords = h('ul', { class: 'keyword-list', 'aria-label': 'Keywords' }, (filter?.keywords || []).map(keywordRow));
  if (!editing) keywords.append(keywordRow());
  const contexts = CONTEXTS.map((c) => ({ key: c.key, input: h('input', { type: 'checkbox', name: 'context', value: c.key, checked: filter ? filter.context.includes(c.key) : c.key !== 'account' }), label: c.label }));
  const actions = ACTIONS.map((a) => ({ key: a.key, input: h('input', { type: 'radio', name: 'filter_action', value: a.key, checked: (filter?.filter_action || 'warn') === a.key }), a }));
  const expiry = h('select', { name: 'expires_in', id: 'filter-expiry' },
    editing ? h('option', { value: KEEP }, filter.expires_at ? `Keep (ends ${fullDate(filter.expires_at)})` : 'Keep (never ends)') : null,
    EXPIRIES.map((e) => h('option', { value: e.seconds }, e.label)),
  );
  const error = h('p', { class: 'form-error', role: 'alert' });
  let box = null;
  const form = h(
    'form',
    {
      class: 'safety-form filter-form',
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = '';
        const rows = [...keywords.querySelectorAll('.keyword-row')].map((row) => row.read());
        const json = {
          title: title.value.trim(),
          context: contexts.filter((c) => c.input.checked).map((c) => c.key),
          filter_action: actions.find((a) => a.input.checked)?.key || 'warn',
          keywords_attributes: rows
            .filter((r) => r.id || (!r.destroy && r.keyword))
            .map((r) => (r.id ? { id: r.id, keyword: r.keyword, whole_word: r.whole_word, _destroy: r.destroy } : { keyword: r.keyword, whole_word: r.whole_word })),
        };
        if (expiry.value !== KEEP) json.expires_in = expiry.value === '' ? '' : Number(expiry.value);
        try {
          const saved = await api(editing ? `/api/v2/filters/${filter.id}` : '/api/v2/filters', { method: editing ? 'PUT' : 'POST', json });
          box.close();
          toast(editing ? 'Filter saved.' : 'Filter created.');
          onSaved(saved);
        } catch (failure) {
          error.textContent = failure.message;
        }
      },
    },
    h('p', { class: 'field' }, h('label', { for: title.id }, 'Title'), title),
    h('fieldset', {}, h('legend', {}, 'Keywords'), keywords,
      h('button', { type: 'button', class: 'link-button', onclick: () => { const row = keywordRow(); keywords.append(row); row.querySelector('input').focus(); } }, 'Add keyword')),
    h('fieldset', {}, h('legend', {}, 'Filter in'), contexts.map((c) => h('label', { class: 'check' }, c.input, ' ', c.label))),
    h('fieldset', {}, h('legend', {}, 'When a post matches'), actions.map(({ input, a }) => h('label', { class: 'check', title: a.hint }, input, ' ', a.label))),
    h('p', { class: 'field' }, h('label', { for: expiry.id }, 'Ends'), expiry),
    error,
    h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => box.close() }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, editing ? 'Save filter' : 'Create filter')),
  );
  box = dialog(editing ? `Edit filter: ${filter.title}` : 'New filter', form);
  (editing ? title : keywords.querySelector('input') || title).focus();
  return box;
}

function describeFilter(filter) {
  const words = filter.keywords.map((k) => (k.whole_word ? k.keyword : `${k.keyword}*`)).join(', ');
  const posts = filter.statuses.length ? `${filter.statuses.length} post${filter.statuses.length === 1 ? '' : 's'}` : '';
  const action = ACTIONS.find((a) => a.key === filter.filter_action)?.key || filter.filter_action;
  return [words, posts].filter(Boolean).join('; ') + ` · ${action} · ${filter.context.join(', ')}` + (filter.expires_at ? ` · ends ${fullDate(filter.expires_at)}` : '');
}

function filterSection(openNew) {
  const part = section('Filters', 'settings-filters');
  async function load() {
    try {
      const filters = await api('/api/v2/filters');
      part.list.replaceChildren(
        ...filters.map((filter) =>
          h(
            'li',
            { class: 'settings-row filter-row', dataset: { filterId: filter.id } },
            h('span', { class: 'settings-who' }, h('strong', {}, filter.title), h('span', { class: 'filter-summary' }, describeFilter(filter))),
            h('button', { type: 'button', class: 'secondary', 'aria-label': `Edit filter ${filter.title}`, onclick: () => filterEditor(filter, load) }, 'Edit'),
            h('button', {
              type: 'button',
              class: 'secondary',
              'aria-label': `Delete filter ${filter.title}`,
              onclick: async () => {
                if (!window.confirm(`Delete the filter "${filter.title}"?`)) return;
                try {
                  await api(`/api/v2/filters/${filter.id}`, { method: 'DELETE' });
                  toast('Filter deleted.');
                  load();
                } catch (error) {
                  toast(error.message, 'error');
                }
              },
            }, 'Delete'),
          ),
        ),
      );
      part.status.textContent = filters.length ? '' : 'No filters yet.';
    } catch (error) {
      part.status.textContent = error.message;
    }
  }
  load();
  part.el.insertBefore(h('button', { type: 'button', class: 'primary new-filter', onclick: () => filterEditor(null, load) }, 'New filter'), part.list);
  if (openNew) setTimeout(() => filterEditor(null, load), 0);
  return part.el;
}

export function render(main, _params, query) {
  document.title = 'Settings · Chirp';
  main.append(
    h('h1', { class: 'screen-title' }, 'Settings'),
    accountSection('Blocked accounts', 'settings-blocks', '/api/v1/blocks?limit=80', 'Unblock', 'unblock', 'Unblocked', () => null),
    accountSection('Muted accounts', 'settings-mutes', '/api/v1/mutes?limit=80', 'Unmute', 'unmute', 'Unmuted', (account) =>
      h('span', { class: 'mute-expiry' }, account.mute_expires_at ? ` · until ${fullDate(account.mute_expires_at)}` : ' · indefinitely'),
    ),
    filterSection(query.get('filter') === 'new'),
  );
  return null;
}
