// Editing one's own post (PUT /api/v1/statuses/:id, from its source text) and the "edited" mark that
// opens its history (GET /api/v1/statuses/:id/history): every version, oldest first. The editor changes the
// text, the content warning and the media (descriptions edited, attachments removed, images added by the
// chunked upload), and sends the poll back as it is (Mastodon's edit removes what it does not name).

import { api } from '../api.js';
import { fullDate, h, icon, safeHTML, toast } from '../dom.js';
import { session } from '../state.js';
import { ICONS } from './icons.js';
import { IMAGE_TYPES, mediaKind, uploadChunked } from './upload.js';

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

const MIN_POLL_SECONDS = 300; // configuration.polls.min_expiration

/** The post's poll as an edit sends it back (an edit that names no poll removes it, as in Mastodon). */
function pollParams(poll) {
  if (!poll) return undefined;
  const left = Math.round((new Date(poll.expires_at).getTime() - Date.now()) / 1000);
  return {
    options: poll.options.map((o) => o.title),
    expires_in: Math.max(MIN_POLL_SECONDS, left),
    multiple: poll.multiple,
    hide_totals: poll.options.some((o) => o.votes_count === null),
  };
}

/** The editor's attachments: those the post has (description editable, removable) and new uploads. */
function mediaEditor(status, onChange) {
  const items = []; // { id, name, preview, description, pending, failed, row }
  const list = h('ul', { class: 'attachments edit-media', 'aria-label': 'Attachments' });
  const problem = h('p', { class: 'form-error', role: 'alert' });

  function remove(item) {
    item.controller?.abort();
    items.splice(items.indexOf(item), 1);
    item.row.remove();
    relabel();
    onChange();
  }

  function relabel() {
    items.forEach((item, i) => {
      item.alt.setAttribute('aria-label', `Description of attachment ${i + 1}`);
      item.removeButton.setAttribute('aria-label', `Remove attachment ${i + 1}`);
    });
  }

  function row(item) {
    item.alt = h('textarea', {
      class: 'alt-text',
      rows: '2',
      maxlength: '1500',
      placeholder: 'Describe this for people who cannot see it',
      oninput: () => {
        item.description = item.alt.value;
      },
    });
    item.alt.value = item.description;
    item.removeButton = h('button', { type: 'button', class: 'icon-button remove', title: 'Remove', onclick: () => remove(item) }, icon(ICONS.close));
    item.state = h('span', { class: 'upload-state' }, item.pending ? 'Uploading…' : '');
    const preview = item.video
      ? h('video', { src: item.preview, muted: true, preload: 'metadata', 'aria-label': `Preview of ${item.name}` })
      : h('img', { src: item.preview, alt: item.description || `Preview of ${item.name}` });
    item.row = h('li', { class: `attachment${item.pending ? '' : ' ready'}` }, h('div', { class: 'preview' }, preview, item.removeButton), item.state, item.alt);
    return item.row;
  }

  function add(item) {
    items.push(item);
    list.append(row(item));
    relabel();
    onChange();
  }

  for (const media of status.media_attachments || []) {
    add({ id: media.id, name: `attachment ${items.length + 1}`, preview: media.preview_url || media.url, video: media.type === 'video' || media.type === 'gifv', description: media.description || '', pending: false });
  }

  const picker = h('input', {
    type: 'file',
    accept: IMAGE_TYPES.join(','),
    multiple: true,
    'aria-label': 'Add images',
    onchange: () => {
      problem.textContent = '';
      for (const file of picker.files) {
        if (items.length >= session.maxMedia || items.some((i) => i.video) || mediaKind(file) !== 'image') {
          problem.textContent = `A post holds up to ${session.maxMedia} images.`;
          continue;
        }
        const item = { id: null, name: file.name, preview: URL.createObjectURL(file), description: '', pending: true, controller: new AbortController() };
        add(item);
        uploadChunked(file, { signal: item.controller.signal }).then(
          (mediaId) => {
            item.id = mediaId;
            item.pending = false;
            item.state.textContent = '';
            item.row.classList.add('ready');
            onChange();
          },
          (failure) => {
            if (failure.name === 'AbortError') return;
            item.failed = true;
            item.state.textContent = `Failed: ${failure.message}`;
            item.row.classList.add('failed');
            onChange();
          },
        );
      }
      picker.value = '';
    },
  });
  const adder = status.poll ? null : h('label', { class: 'link-button add-media' }, 'Add images ', picker);

  return {
    element: h('div', { class: 'edit-media-editor' }, list, adder, problem),
    busy: () => items.some((i) => i.pending || i.failed),
    params: () => ({
      media_ids: items.map((i) => i.id),
      media_attributes: items.map((i) => ({ id: i.id, description: i.description.trim() })),
    }),
  };
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
  let media;
  media = mediaEditor(status, () => {
    if (media) save.disabled = media.busy(); // not while the editor is being built
  });
  save.disabled = media.busy();
  const form = h(
    'form',
    {
      class: 'composer edit-form',
      onsubmit: async (event) => {
        event.preventDefault();
        if (media.busy()) return;
        save.disabled = true;
        try {
          const edited = await api(`/api/v1/statuses/${status.id}`, {
            method: 'PUT',
            json: {
              status: text.value,
              spoiler_text: warning.value,
              sensitive: status.sensitive,
              ...media.params(),
              poll: pollParams(status.poll),
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
    media.element,
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
                  v.media_attachments.length
                    ? h('ul', { class: 'version-media', 'aria-label': 'Attachments' }, v.media_attachments.map((m) => h('li', {}, m.description || 'No description')))
                    : null,
                  v.poll ? h('ul', { class: 'version-poll', 'aria-label': 'Poll options' }, v.poll.options.map((o) => h('li', {}, o.title))) : null,
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
