// Moderation, for admins and moderators only (the nav shows it when the signed-in account's role allows):
// the open reports (GET /api/v1/admin/reports), each with the reported posts as they were, a Resolve
// button and the actions on the reported account (POST /api/v1/admin/accounts/:id/action: warn, mark
// sensitive, disable, silence, suspend, with a warning the account's owner is shown); and the accounts
// under a moderation state (GET /api/v2/admin/accounts?status=...) with the button that lifts it.

import { api } from '../api.js';
import { h, plainText, timeAgo, toast } from '../dom.js';
import { session, ui } from '../state.js';
import { accountRow } from '../components/account.js';

// Mastodon's permission bits (Role.permissions): administrator, manage reports, manage users.
const ADMINISTRATOR = 1;
const MANAGE_REPORTS = 1 << 4;
const MANAGE_USERS = 1 << 10;

/** Whether the signed-in account may moderate (its CredentialAccount role). */
export function mayModerate(me = session.me) {
  const bits = Number(me?.role?.permissions || 0);
  return Boolean(bits & (ADMINISTRATOR | MANAGE_REPORTS | MANAGE_USERS));
}

const ACTIONS = [
  ['none', 'Warn only'],
  ['sensitive', 'Mark media sensitive'],
  ['disable', 'Disable sign-in'],
  ['silence', 'Silence (off public timelines)'],
  ['suspend', 'Suspend'],
];
// The states an account can be in, and the route that lifts each.
const STATES = [
  ['suspended', 'Suspended', 'unsuspend', 'Unsuspend'],
  ['silenced', 'Silenced', 'unsilence', 'Unsilence'],
  ['disabled', 'Disabled', 'enable', 'Enable'],
];

// The nav link's icon: a shield.
export const ICON = ['M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z', 'M9 12l2 2 4-4'];

let formCount = 0;

function actionForm(report, onDone) {
  const id = `moderate-${++formCount}`;
  const select = h('select', { id: `${id}-type`, name: 'type' }, ACTIONS.map(([value, label]) => h('option', { value }, label)));
  const text = h('textarea', { id: `${id}-text`, name: 'text', rows: 2, maxlength: 5000, placeholder: 'Tell them why (they see this)' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Apply');
  const form = h(
    'form',
    {
      class: 'moderation-action',
      'aria-label': `Action on @${report.target_account.username}`,
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          await api(`/api/v1/admin/accounts/${report.target_account.id}/action`, {
            method: 'POST',
            json: { type: select.value, text: text.value.trim(), report_id: report.id },
          });
          const label = ACTIONS.find(([value]) => value === select.value)[1];
          onDone(`${label}: done, report resolved`);
        } catch (error) {
          toast(error.message, 'error');
          submit.disabled = false;
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: select.id }, 'Action on the account'), select),
    h('div', { class: 'field' }, h('label', { for: text.id }, 'Warning'), text),
    submit,
  );
  return form;
}

function reportedPosts(report) {
  if (!report.statuses?.length) return null;
  return h(
    'ul',
    { class: 'reported-posts', 'aria-label': 'Reported posts' },
    report.statuses.map((status) => h('li', {}, h('blockquote', {}, plainText(status.content)))),
  );
}

function reportCard(report) {
  const outcome = h('p', { class: 'report-outcome', role: 'status' });
  const body = h('div', { class: 'report-body' });
  const done = (message) => {
    body.replaceChildren();
    outcome.textContent = message;
    card.classList.add('report-closed');
  };
  const resolve = h('button', {
    type: 'button',
    class: 'secondary',
    onclick: async () => {
      resolve.disabled = true;
      try {
        await api(`/api/v1/admin/reports/${report.id}/resolve`, { method: 'POST' });
        done('Resolved, no action taken');
      } catch (error) {
        toast(error.message, 'error');
        resolve.disabled = false;
      }
    },
  }, 'Resolve');
  body.append(
    h('p', { class: 'report-meta' }, `Reported by @${report.account.username} · ${report.category} · `, timeAgo(report.created_at)),
    report.comment ? h('p', { class: 'report-comment' }, report.comment) : null,
    reportedPosts(report),
    h('div', { class: 'report-actions' }, resolve),
    actionForm(report, done),
  );
  const card = h(
    'article',
    { class: 'report', dataset: { id: report.id }, 'aria-label': `Report about @${report.target_account.username}` },
    accountRow(report.target_account.account),
    body,
    outcome,
  );
  return card;
}

function stateRow(admin, state, stateLabel, route, buttonLabel) {
  const status = h('span', { class: 'account-state', role: 'status' }, stateLabel);
  const button = h('button', {
    type: 'button',
    class: 'secondary',
    'aria-label': `${buttonLabel} @${admin.username}`,
    onclick: async () => {
      button.disabled = true;
      try {
        await api(`/api/v1/admin/accounts/${admin.id}/${route}`, { method: 'POST' });
        status.textContent = `${buttonLabel}: done`;
        button.remove();
      } catch (error) {
        toast(error.message, 'error');
        button.disabled = false;
      }
    },
  }, buttonLabel);
  return h('article', { class: 'moderated-account', dataset: { id: admin.id, state } }, accountRow(admin.account, h('div', { class: 'request-actions' }, status, button)));
}

async function loadReports(list) {
  const reports = await api('/api/v1/admin/reports', { query: { limit: 100 } });
  list.replaceChildren(...(reports.length ? reports.map(reportCard) : [h('p', { class: 'empty' }, 'No open reports. Well done.')]));
}

async function loadStates(list) {
  const sections = [];
  for (const [state, label, route, buttonLabel] of STATES) {
    const accounts = await api('/api/v2/admin/accounts', { query: { status: state, limit: 100 } });
    if (accounts.length) sections.push(h('h3', {}, label), accounts.map((admin) => stateRow(admin, state, label, route, buttonLabel)));
  }
  list.replaceChildren(...(sections.length ? sections.flat() : [h('p', { class: 'empty' }, 'No account is suspended, silenced or disabled.')]));
}

export function render(main) {
  main.append(h('h1', { class: 'screen-title' }, 'Moderation'));
  if (!session.me) {
    main.append(h('p', {}, 'Sign in as a moderator to see reports.'));
    ui.signIn('/moderation');
    return null;
  }
  if (!mayModerate()) {
    main.append(h('p', {}, 'Only the server’s admins and moderators can see this page.'));
    return null;
  }
  document.title = 'Moderation · Chirp';
  const reports = h('div', { class: 'reports', 'aria-live': 'polite' }, h('p', {}, 'Loading…'));
  const states = h('div', { class: 'moderated-accounts' }, h('p', {}, 'Loading…'));
  main.append(
    h('section', { 'aria-labelledby': 'open-reports' }, h('h2', { id: 'open-reports', class: 'section-title' }, 'Open reports'), reports),
    h('section', { 'aria-labelledby': 'limited-accounts' }, h('h2', { id: 'limited-accounts', class: 'section-title' }, 'Limited accounts'), states),
  );
  const fail = (error) => toast(error.message, 'error');
  loadReports(reports).catch(fail);
  loadStates(states).catch(fail);
  return null;
}
