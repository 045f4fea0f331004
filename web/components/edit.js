// Editing one's own post (PUT /api/v1/statuses/:id, from its source text) and the "edited" mark that
// opens its history (GET /api/v1/statuses/:id/history): every version, oldest first.

import { api } from '../api.js';
import { fullDate, h, icon, safeHTML, toast } from '../dom.js';
import { ICONS } from './icons.js';

function dialog(title, ...content) {
  const el = h('dialog', { class: 'compose-dialog', 'aria-label': title });
  el.append(
    h('div', { class: 'dialog-head' }, h('h2', {}, title), h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => el.close() }, icon(ICONS.close))),
    ...content,
  );
  el.addEventListener('close', () => el.remove());
  document.body.append(el);
  el.showModal();
  return el;
}

/** Open the editor of a post; `onSaved(status)` gets the edited post. */
export async function editPost(status, onSaved) {
  let source;
  try {
    source = await api(`/api/v1/statuses/${status.id}/source`);
  } catch (error) {
    toast(error.message, 'error');
    return;
  }
  const text = h('textarea', { id: `edit-text-${status.id}`, rows: '4' });
  text.value = source.text;
  const warning = h('input', { type: 'text', 'aria-label': 'Content warning', placeholder: 'Content warning (optional)' });
  warning.value = source.spoiler_text;
  const error = h('p', { class: 'form-error', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const form = h(
    'form',
    {
      class: 'composer edit-form',
      onsubmit: async (event) => {
        event.preventDefault();
        save.disabled = true;
        try {
          const edited = await api(`/api/v1/statuses/${status.id}`, {
            method: 'PUT',
            json: {
              status: text.value,
              spoiler_text: warning.value,
              sensitive: status.sensitive,
              media_ids: (status.media_attachments || []).map((m) => m.id),
            },
          });
          box.close();
          toast('Post edited.');
          onSaved(edited);
        } catch (failure) {
          error.textContent = failure.message;
          save.disabled = false;
        }
      },
    },
    warning,
    h('label', { class: 'visually-hidden', for: text.id }, 'Edited text'),
    text,
    error,
    h('div', { class: 'compose-bar' }, save),
  );
  const box = dialog('Edit post', form);
  text.focus();
}

/** "Edited" next to the time of an edited post: a button showing every version. */
export function editedMark(status) {
  if (!status.edited_at) return null;
  return h(
    'button',
    {
      type: 'button',
      class: 'link-button edited-mark',
      title: `Edited ${new Date(status.edited_at).toLocaleString()}`,
      dataset: { action: 'history' },
      onclick: async () => {
        try {
          const versions = await api(`/api/v1/statuses/${status.id}/history`);
          dialog(
            'Edit history',
            h(
              'ol',
              { class: 'edit-history', 'aria-label': 'Versions, oldest first' },
              versions.map((v, i) =>
                h(
                  'li',
                  { class: 'edit-version' },
                  h('p', { class: 'time' }, i === 0 ? 'Posted ' : 'Edited ', fullDate(v.created_at)),
                  v.spoiler_text ? h('p', { class: 'spoiler-text' }, v.spoiler_text) : null,
                  h('div', { class: 'content' }, safeHTML(v.content)),
                ),
              ),
            ),
          );
        } catch (error) {
          toast(error.message, 'error');
        }
      },
    },
    'edited',
  );
}
