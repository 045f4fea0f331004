// Safety from a post's and a profile's menu (issue 22): block, mute (for how long, and whether their
// notifications are hidden too), report (a category, a comment, the post attached) and filters (this post
// into a filter, or a keyword filter). And how a filtered post shows: under `warn` the whole post waits
// behind "Filtered: <title>" with "Show anyway"; under `blur` only its media does, as Mastodon 4.4's web.

import { api } from '../api.js';
import { h, icon, safeHTML, toast } from '../dom.js';
import { ui } from '../state.js';
import { ICONS } from './icons.js';

const MORE_ICON = ['M5 12h.01', 'M12 12h.01', 'M19 12h.01'];

export const MUTE_DURATIONS = [
  { seconds: 0, label: 'Indefinitely' },
  { seconds: 300, label: '5 minutes' },
  { seconds: 1800, label: '30 minutes' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 21600, label: '6 hours' },
  { seconds: 86400, label: '1 day' },
  { seconds: 259200, label: '3 days' },
  { seconds: 604800, label: '7 days' },
];

const REPORT_CATEGORIES = [
  { key: 'spam', label: 'It is spam' },
  { key: 'legal', label: 'It is illegal' },
  { key: 'other', label: 'Something else' },
];

export function dialog(title, ...content) {
  const el = h('dialog', { class: 'compose-dialog safety-dialog', 'aria-label': title });
  el.append(
    h('div', { class: 'dialog-head' }, h('h2', {}, title), h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => el.close() }, icon(ICONS.close))),
    ...content,
  );
  el.addEventListener('close', () => el.remove());
  document.body.append(el);
  el.showModal();
  return el;
}

/** A form inside a dialog: `submit()` returns the toast to show; its error shows in the form. */
function dialogForm(title, fields, submitLabel, submit) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  let box = null;
  const form = h(
    'form',
    {
      class: 'safety-form',
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        error.textContent = '';
        try {
          const message = await submit();
          box.close();
          if (message) toast(message);
        } catch (failure) {
          error.textContent = failure.message;
          button.disabled = false;
        }
      },
    },
    fields,
    error,
    h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => box.close() }, 'Cancel'), button),
  );
  box = dialog(title, form);
  return box;
}

let fieldCount = 0;
function labelled(text, control) {
  control.id ||= `safety-field-${++fieldCount}`;
  return h('p', { class: 'field' }, h('label', { for: control.id }, text), control);
}

function checkbox(text, checked = false, attrs = {}) {
  const input = h('input', { type: 'checkbox', checked, ...attrs });
  return { input, el: h('label', { class: 'check' }, input, ' ', text) };
}

/** Mute an account: for how long, and whether their notifications go too. `onDone(relationship)`. */
export function muteDialog(account, onDone = () => {}) {
  const duration = h('select', { name: 'duration' }, MUTE_DURATIONS.map((d) => h('option', { value: String(d.seconds) }, d.label)));
  const notifications = checkbox('Hide notifications from them', true, { name: 'notifications' });
  return dialogForm(`Mute @${account.acct}`, [
    h('p', {}, 'Their posts, and reposts of them, leave your timelines. They are not told.'),
    labelled('Duration', duration),
    notifications.el,
  ], 'Mute', async () => {
    const relationship = await api(`/api/v1/accounts/${account.id}/mute`, {
      method: 'POST',
      json: { duration: Number(duration.value), notifications: notifications.input.checked },
    });
    onDone(relationship);
    return `Muted @${account.acct}.`;
  });
}

export function blockDialog(account, onDone = () => {}) {
  return dialogForm(`Block @${account.acct}`, [
    h('p', {}, 'Neither of you will see the other\'s posts, follows end both ways, and they cannot follow you again.'),
  ], 'Block', async () => {
    onDone(await api(`/api/v1/accounts/${account.id}/block`, { method: 'POST' }));
    return `Blocked @${account.acct}.`;
  });
}

/** Report an account, with the post attached when there is one. */
export function reportDialog(account, status = null) {
  const category = h('select', { name: 'category' }, REPORT_CATEGORIES.map((c) => h('option', { value: c.key }, c.label)));
  const comment = h('textarea', { name: 'comment', rows: '3', maxlength: '1000', placeholder: 'Anything the moderators should know (optional)' });
  const attach = status ? checkbox('Attach this post', true, { name: 'attach' }) : null;
  return dialogForm(`Report @${account.acct}`, [
    labelled('Why?', category),
    labelled('Comment', comment),
    attach ? attach.el : null,
    status ? h('blockquote', { class: 'report-post' }, status.spoiler_text || safeHTML(status.content)) : null,
  ], 'Send report', async () => {
    const json = { account_id: account.id, category: category.value, comment: comment.value };
    if (attach?.input.checked) json.status_ids = [status.id];
    await api('/api/v1/reports', { method: 'POST', json });
    return 'Report sent. Thank you.';
  });
}

/** Put a post into one of your filters, or into a new one. */
export async function filterPostDialog(status) {
  let filters = [];
  try {
    filters = await api('/api/v2/filters');
  } catch (error) {
    toast(error.message, 'error');
    return null;
  }
  const NEW = 'new';
  const choice = h('select', { name: 'filter' }, h('option', { value: NEW }, 'A new filter…'), filters.map((f) => h('option', { value: f.id }, f.title)));
  const title = h('input', { type: 'text', name: 'title', value: 'Filtered posts' });
  const titleField = labelled('New filter\'s title', title);
  choice.addEventListener('change', () => { titleField.hidden = choice.value !== NEW; });
  if (filters.length) {
    choice.value = filters[0].id;
    titleField.hidden = true;
  }
  return dialogForm('Filter this post', [
    labelled('Add it to', choice),
    titleField,
    h('p', {}, h('a', { href: '/settings?filter=new', onclick: (event) => { event.target.closest('dialog').close(); } }, 'Add a keyword filter instead')),
  ], 'Filter', async () => {
    let id = choice.value;
    if (id === NEW) {
      const created = await api('/api/v2/filters', { method: 'POST', json: { title: title.value, context: ['home', 'public', 'thread', 'notifications'], filter_action: 'warn' } });
      id = created.id;
    }
    await api(`/api/v2/filters/${id}/statuses`, { method: 'POST', json: { status_id: status.id } });
    return 'Post filtered.';
  });
}

/** A menu of actions under a "More" button (role=menu, arrow keys, Escape). `items`: [{label, run}]. */
export function moreMenu(label, items) {
  const wrap = h('div', { class: 'more-wrap' });
  const button = h(
    'button',
    { type: 'button', class: 'action action-more', 'aria-label': label, title: label, 'aria-haspopup': 'menu', 'aria-expanded': 'false', dataset: { action: 'more' } },
    icon(MORE_ICON),
  );
  let menu = null;
  const close = (refocus = true) => {
    if (!menu) return;
    const open = menu;
    menu = null; // removing it moves focus out, whose focusout comes back here: close once
    open.remove();
    button.setAttribute('aria-expanded', 'false');
    if (refocus) button.focus();
  };
  button.addEventListener('click', () => {
    if (menu) return close();
    const entries = items().filter(Boolean);
    menu = h(
      'div',
      {
        class: 'more-menu',
        role: 'menu',
        'aria-label': label,
        onkeydown: (event) => {
          const buttons = [...menu.querySelectorAll('button')];
          const at = buttons.indexOf(document.activeElement);
          if (event.key === 'Escape') close();
          else if (event.key === 'ArrowDown') buttons[(at + 1) % buttons.length].focus();
          else if (event.key === 'ArrowUp') buttons[(at - 1 + buttons.length) % buttons.length].focus();
          else return;
          event.preventDefault();
        },
        onfocusout: (event) => {
          if (menu && !menu.contains(event.relatedTarget) && event.relatedTarget !== button) close(false);
        },
      },
      entries.map((entry) =>
        h('button', { type: 'button', role: 'menuitem', class: entry.danger ? 'danger' : undefined, onclick: () => { close(false); entry.run(); } }, entry.label),
      ),
    );
    button.setAttribute('aria-expanded', 'true');
    wrap.append(menu);
    menu.querySelector('button')?.focus();
  });
  wrap.append(button);
  return wrap;
}

/** A post's safety actions, for the "More" menu of someone else's post. `onHidden()` takes the card away. */
export function postSafetyItems(status, onHidden) {
  const account = status.account;
  return [
    { label: `Mute @${account.acct}`, run: () => muteDialog(account, onHidden) },
    { label: `Block @${account.acct}`, danger: true, run: () => blockDialog(account, onHidden) },
    { label: `Report @${account.acct}`, danger: true, run: () => reportDialog(account, status) },
    { label: 'Filter this post', run: () => filterPostDialog(status) },
    { label: 'Add a keyword filter', run: () => ui.navigate('/settings?filter=new') },
  ];
}

/** A profile's safety actions; `onChange(relationship)` redraws the header. */
export function accountSafetyItems(account, relationship, onChange) {
  const acct = `@${account.acct}`;
  const undo = (path, done) => async () => {
    try {
      onChange(await api(`/api/v1/accounts/${account.id}/${path}`, { method: 'POST' }));
      toast(done);
    } catch (error) {
      toast(error.message, 'error');
    }
  };
  return [
    relationship?.muting ? { label: `Unmute ${acct}`, run: undo('unmute', `Unmuted ${acct}.`) } : { label: `Mute ${acct}`, run: () => muteDialog(account, onChange) },
    relationship?.blocking
      ? { label: `Unblock ${acct}`, run: undo('unblock', `Unblocked ${acct}.`) }
      : { label: `Block ${acct}`, danger: true, run: () => blockDialog(account, onChange) },
    { label: `Report ${acct}`, danger: true, run: () => reportDialog(account) },
  ];
}

// Filtered posts ---------------------------------------------------------------------------------------

function resultsOf(entity) {
  return [...(entity.filtered || []), ...(entity.reblog?.filtered || [])];
}

function titles(results) {
  return [...new Set(results.map((r) => r.filter.title))].join(', ');
}

/** The filter actions on a post for this viewer: `warn` and `blur` results (hide never reaches the page). */
export function filterState(entity) {
  const results = resultsOf(entity);
  return {
    hidden: results.some((r) => r.filter.filter_action === 'hide'),
    warn: results.filter((r) => r.filter.filter_action === 'warn' || !['hide', 'blur'].includes(r.filter.filter_action)),
    blur: results.filter((r) => r.filter.filter_action === 'blur'),
  };
}

/** In place of a post under a warn filter: "Filtered: <title>", and a button that shows it. */
export function filteredNotice(results, onShow) {
  return h(
    'div',
    { class: 'filtered-notice', role: 'group', 'aria-label': 'Filtered post' },
    h('span', {}, `Filtered: ${titles(results)}`),
    h('button', { type: 'button', class: 'link-button show-anyway', onclick: onShow }, 'Show anyway'),
  );
}

/** Media under a blur filter: blurred, with the filter's title and a button that unblurs it. */
export function blurredMedia(grid, results) {
  if (!grid) return null;
  grid.classList.add('media-filtered');
  const veil = h(
    'div',
    { class: 'media-veil' },
    h('span', {}, `Filtered: ${titles(results)}`),
    h('button', { type: 'button', class: 'secondary show-anyway', onclick: () => { grid.classList.remove('media-filtered'); veil.remove(); } }, 'Show anyway'),
  );
  return h('div', { class: 'media-filter-wrap' }, grid, veil);
}
