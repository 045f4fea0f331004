// Polls: a post's poll (vote, or the results once voted or ended: POST /api/v1/polls/:id/votes) and the
// composer's poll fields (options, duration, multiple choice).

import { api } from '../api.js';
import { h, toast, timeAgo } from '../dom.js';

function results(poll) {
  const total = poll.multiple ? poll.voters_count : poll.votes_count;
  return h(
    'ul',
    { class: 'poll-results' },
    poll.options.map((option, i) => {
      const votes = option.votes_count;
      const share = votes === null || !total ? null : Math.round((100 * votes) / total);
      return h(
        'li',
        { class: ['poll-result', (poll.own_votes || []).includes(i) && 'own'] },
        h('span', { class: 'poll-share' }, share === null ? '' : `${share}%`),
        h('span', { class: 'poll-title' }, option.title),
        share === null ? null : h('meter', { min: '0', max: '100', value: String(share), 'aria-label': `${option.title}: ${share}%` }),
      );
    }),
  );
}

/** The poll of `status` (null when it has none); `onChange(poll)` with the poll after a vote. */
export function pollBlock(status, onChange) {
  const poll = status.poll;
  if (!poll) return null;
  const footer = h('p', { class: 'poll-footer' }, `${poll.votes_count} vote${poll.votes_count === 1 ? '' : 's'} · `, poll.expired ? 'Closed' : 'Ends ', poll.expired ? null : timeAgo(poll.expires_at));
  if (poll.voted || poll.expired || poll.voted === undefined) {
    return h('div', { class: 'poll', role: 'group', 'aria-label': 'Poll' }, results(poll), footer);
  }
  const type = poll.multiple ? 'checkbox' : 'radio';
  const name = `poll-${poll.id}`;
  const inputs = poll.options.map((option, i) => h('input', { type, name, value: String(i), id: `${name}-${i}` }));
  const vote = h('button', { type: 'submit', class: 'primary' }, 'Vote');
  return h(
    'form',
    {
      class: 'poll',
      'aria-label': 'Poll',
      onsubmit: async (event) => {
        event.preventDefault();
        const choices = inputs.filter((input) => input.checked).map((input) => Number(input.value));
        if (!choices.length) return;
        vote.disabled = true;
        try {
          onChange(await api(`/api/v1/polls/${poll.id}/votes`, { method: 'POST', json: { choices } }));
        } catch (error) {
          toast(error.message, 'error');
          vote.disabled = false;
        }
      },
    },
    h('ul', { class: 'poll-options' }, poll.options.map((option, i) => h('li', {}, inputs[i], h('label', { for: inputs[i].id }, option.title)))),
    h('div', { class: 'poll-bar' }, vote),
    footer,
  );
}

const DURATIONS = [
  [300, '5 minutes'],
  [3600, '1 hour'],
  [86400, '1 day'],
  [604800, '7 days'],
];

/** The composer's poll fields: `el`, `value()` (the `poll` parameter, or null when off), `reset()`. */
export function pollFields(limits) {
  const max = limits?.max_options || 4;
  const options = [];
  const list = h('ol', { class: 'poll-inputs' });
  const addOption = () => {
    if (options.length >= max) return;
    const input = h('input', { type: 'text', maxlength: String(limits?.max_characters_per_option || 50), 'aria-label': `Option ${options.length + 1}` });
    options.push(input);
    list.append(h('li', {}, input));
    more.disabled = options.length >= max;
  };
  const more = h('button', { type: 'button', class: 'link-button', onclick: addOption }, 'Add an option');
  const duration = h('select', { 'aria-label': 'Poll duration' }, DURATIONS.map(([seconds, label]) => h('option', { value: String(seconds) }, label)));
  duration.value = '86400';
  const multiple = h('input', { type: 'checkbox', id: 'poll-multiple' });
  const el = h('fieldset', { class: 'poll-fields', hidden: true }, h('legend', {}, 'Poll'), list, more, duration, h('label', {}, multiple, ' Multiple choice'));
  addOption();
  addOption();
  return {
    el,
    value() {
      if (el.hidden) return null;
      return { options: options.map((o) => o.value.trim()).filter(Boolean), expires_in: Number(duration.value), multiple: multiple.checked };
    },
    toggle(on = el.hidden) {
      el.hidden = !on;
      return on;
    },
    reset() {
      for (const o of options) o.value = '';
      multiple.checked = false;
      el.hidden = true;
    },
  };
}
