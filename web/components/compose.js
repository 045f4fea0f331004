// Writing a post: text with a live character count, @/# completion, a reply or a quote, an optional content
// warning, and up to four images or one video, each uploaded in chunks (progress bar, cancel) with a preview
// and alt text.

import { api } from '../api.js';
import { h, icon, plainText, toast } from '../dom.js';
import { session } from '../state.js';
import { displayName } from './account.js';
import { attachAutocomplete } from './autocomplete.js';
import { ICONS } from './icons.js';
import { pollFields } from './poll.js';
import { mediaKind, uploadChunked } from './upload.js';

const URL_PATTERN = /https?:\/\/[^\s<>"]+/gi;
const URL_LENGTH = 23; // each link counts this many characters, as the server counts it
let composers = 0;

/** The length the server's limit counts: code points, every link as 23. */
export function postLength(text) {
  const trimmed = text.trim();
  let length = [...trimmed].length;
  for (const url of trimmed.match(URL_PATTERN) || []) length += URL_LENGTH - [...url].length;
  return length;
}

function replyPrefix(status) {
  const me = session.me?.acct;
  const names = [status.account.acct, ...(status.mentions || []).map((m) => m.acct)].filter((n) => n !== me);
  const unique = [...new Set(names)];
  return unique.length ? `${unique.map((n) => `@${n}`).join(' ')} ` : '';
}

/**
 * A compose form. `replyTo`, `quote`: Status entities. `onPosted(status)` after a successful post.
 * Returns { el, focus() }.
 */
export function composer({ replyTo = null, quote = null, onPosted = () => {}, autofocus = false } = {}) {
  const n = ++composers;
  const attachments = []; // { file, kind, url, controller, mediaId, error, alt, row, promise }
  const idempotencyKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
  let key = idempotencyKey();

  const textarea = h('textarea', {
    id: `compose-text-${n}`,
    name: 'status',
    rows: '3',
    placeholder: replyTo ? 'Write your reply' : quote ? 'Add a comment' : "What's happening?",
    'aria-describedby': `compose-count-${n}`,
  });
  if (replyTo) textarea.value = replyPrefix(replyTo);
  // A content warning (Mastodon's spoiler_text): shown instead of the post until the reader opens it. A reply
  // to a post behind one starts with the same warning, as Mastodon does.
  const warning = h('input', {
    type: 'text',
    id: `compose-warning-${n}`,
    name: 'spoiler_text',
    class: 'compose-warning',
    placeholder: 'Write your warning here',
    maxlength: '500',
  });
  const warningField = h(
    'div',
    { id: `compose-warning-field-${n}`, class: 'field compose-warning-field', hidden: true },
    h('label', { for: warning.id }, 'Content warning'),
    warning,
  );
  const warningToggle = h(
    'button',
    {
      type: 'button',
      class: 'icon-button warning-toggle',
      'aria-pressed': 'false',
      'aria-controls': warningField.id,
      title: 'Add a content warning',
      onclick: () => showWarning(warningField.hidden),
    },
    h('span', { 'aria-hidden': 'true' }, 'CW'),
    h('span', { class: 'visually-hidden' }, 'Content warning'),
  );
  function showWarning(on) {
    warningField.hidden = !on;
    warningToggle.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (on) warning.focus();
    refresh();
  }
  const warningText = () => (warningField.hidden ? '' : warning.value.trim());
  const counter = h('span', { class: 'char-count', id: `compose-count-${n}`, 'aria-live': 'polite' });
  const fileInput = h('input', {
    type: 'file',
    id: `compose-files-${n}`,
    class: 'visually-hidden',
    accept: 'image/jpeg,image/png,image/webp,image/gif,video/mp4,video/quicktime',
    multiple: true,
    onchange: () => {
      addFiles([...fileInput.files]);
      fileInput.value = '';
    },
  });
  const visibility = h(
    'select',
    { name: 'visibility', 'aria-label': 'Who can see this post' },
    h('option', { value: 'public' }, 'Public'),
    h('option', { value: 'unlisted' }, 'Unlisted'),
    h('option', { value: 'private' }, 'Followers only'),
    h('option', { value: 'direct' }, 'Mentioned people only'),
  );
  // A poll, and a time to publish later (issue 23): each off until asked for.
  const poll = pollFields(session.instance?.configuration?.polls);
  const pollToggle = h('button', { type: 'button', class: 'icon-button', 'aria-pressed': 'false', title: 'Add a poll', onclick: () => pollToggle.setAttribute('aria-pressed', String(poll.toggle())) }, 'Poll');
  const when = h('input', { type: 'datetime-local', class: 'compose-schedule', 'aria-label': 'Publish at (optional)' });
  visibility.value = replyTo && replyTo.visibility === 'private' ? 'private' : session.me?.source?.privacy || 'public';
  if (replyTo?.visibility === 'direct') visibility.value = 'direct';
  if (!['public', 'unlisted', 'private', 'direct'].includes(visibility.value)) visibility.value = 'public';
  const submit = h('button', { type: 'submit', class: 'primary' }, replyTo ? 'Reply' : 'Post');
  const previews = h('ul', { class: 'attachments', 'aria-label': 'Attachments' });
  const error = h('p', { class: 'form-error', role: 'alert' });

  const context = replyTo
    ? h('p', { class: 'compose-context' }, 'Replying to ', h('strong', {}, displayName(replyTo.account)), ` @${replyTo.account.acct}`)
    : quote
      ? h(
          'div',
          { class: 'compose-context quote' },
          h('span', { class: 'quote-head' }, 'Quoting ', h('strong', {}, displayName(quote.account)), ` @${quote.account.acct}`),
          h('span', { class: 'content' }, plainText(quote.content).slice(0, 280)),
        )
      : null;

  const form = h(
    'form',
    { class: 'composer', 'aria-label': replyTo ? 'Reply' : 'New post', onsubmit: (event) => { event.preventDefault(); post(); } },
    context,
    warningField,
    h('label', { class: 'visually-hidden', for: textarea.id }, replyTo ? 'Reply text' : 'Post text'),
    h('div', { class: 'compose-field' }, textarea, attachAutocomplete(textarea)),
    previews,
    poll.el,
    error,
    h(
      'div',
      { class: 'compose-bar' },
      h('label', { class: 'icon-button', for: fileInput.id, title: 'Add images or a video' }, icon(ICONS.image), h('span', { class: 'visually-hidden' }, 'Add images or a video')),
      fileInput,
      warningToggle,
      pollToggle,
      visibility,
      when,
      counter,
      submit,
    ),
  );

  function remaining() {
    return session.maxChars - postLength(textarea.value) - [...warningText()].length; // the server counts both
  }

  function busy() {
    return attachments.some((a) => !a.mediaId && !a.error);
  }

  function refresh() {
    const left = remaining();
    counter.textContent = String(left);
    counter.classList.toggle('over', left < 0);
    counter.setAttribute('aria-label', left < 0 ? `${-left} characters over the limit` : `${left} characters left`);
    const hasContent = textarea.value.trim().length > 0 || attachments.some((a) => a.mediaId);
    submit.disabled = left < 0 || !hasContent || busy() || attachments.some((a) => a.error);
  }

  function removeAttachment(item) {
    item.controller.abort();
    URL.revokeObjectURL(item.url);
    attachments.splice(attachments.indexOf(item), 1);
    item.row.remove();
    refresh();
  }

  function attachmentRow(item) {
    const progress = h('progress', { max: '100', value: '0', 'aria-label': `Uploading ${item.file.name}` });
    const state = h('span', { class: 'upload-state' }, 'Uploading…');
    const alt = h('textarea', {
      class: 'alt-text',
      rows: '2',
      maxlength: '1500',
      placeholder: 'Describe this for people who cannot see it',
      'aria-label': `Alt text for ${item.file.name}`,
      oninput: () => {
        item.alt = alt.value;
      },
    });
    const cancel = h(
      'button',
      { type: 'button', class: 'icon-button remove', 'aria-label': `Cancel and remove ${item.file.name}`, title: 'Remove', onclick: () => removeAttachment(item) },
      icon(ICONS.close),
    );
    const preview =
      item.kind === 'video'
        ? h('video', { src: item.url, muted: true, preload: 'metadata', 'aria-label': `Preview of ${item.file.name}` })
        : h('img', { src: item.url, alt: `Preview of ${item.file.name}` });
    item.progress = progress;
    item.state = state;
    return h('li', { class: 'attachment' }, h('div', { class: 'preview' }, preview, cancel), progress, state, alt);
  }

  function addFiles(files) {
    error.textContent = '';
    for (const file of files) {
      const kind = mediaKind(file);
      if (!kind) {
        error.textContent = `${file.name}: choose a JPEG, PNG, WebP or GIF image, or an MP4 or MOV video.`;
        continue;
      }
      const single = kind !== 'image' || attachments.some((a) => a.kind !== 'image');
      if ((single && attachments.length > 0) || attachments.length >= session.maxMedia) {
        error.textContent = `A post holds up to ${session.maxMedia} images, or one video or GIF.`;
        continue;
      }
      const item = { file, kind, url: URL.createObjectURL(file), controller: new AbortController(), mediaId: null, error: null, alt: '' };
      item.row = attachmentRow(item);
      attachments.push(item);
      previews.append(item.row);
      item.promise = uploadChunked(file, {
        signal: item.controller.signal,
        onProgress: ({ phase, percent }) => {
          item.progress.value = phase === 'uploading' ? Math.round(percent) : 100;
          item.state.textContent = phase === 'uploading' ? `Uploading ${Math.round(percent)}%` : 'Processing…';
        },
      }).then(
        (mediaId) => {
          item.mediaId = mediaId;
          item.state.textContent = 'Ready';
          item.row.classList.add('ready');
          refresh();
        },
        (failure) => {
          if (failure.name === 'AbortError') return;
          item.error = failure.message;
          item.state.textContent = `Failed: ${failure.message}`;
          item.row.classList.add('failed');
          refresh();
        },
      );
    }
    refresh();
  }

  async function post() {
    if (submit.disabled) return;
    submit.disabled = true;
    error.textContent = '';
    try {
      for (const item of attachments) {
        if (item.alt.trim()) await api(`/api/v1/media/${item.mediaId}`, { method: 'PUT', json: { description: item.alt.trim() } });
      }
      const status = await api('/api/v1/statuses', {
        method: 'POST',
        headers: { 'Idempotency-Key': key },
        json: {
          status: textarea.value,
          media_ids: attachments.map((a) => a.mediaId),
          visibility: visibility.value,
          ...(warningText() ? { spoiler_text: warningText() } : {}),
          ...(replyTo ? { in_reply_to_id: replyTo.id } : {}),
          ...(quote ? { quoted_status_id: quote.id } : {}),
          ...(poll.value() ? { poll: poll.value() } : {}),
          ...(when.value ? { scheduled_at: new Date(when.value).toISOString() } : {}),
        },
      });
      key = idempotencyKey();
      poll.reset();
      pollToggle.setAttribute('aria-pressed', 'false');
      if (status.scheduled_at) {
        when.value = '';
        textarea.value = '';
        for (const item of [...attachments]) removeAttachment(item);
        toast(`Scheduled for ${new Date(status.scheduled_at).toLocaleString()}.`);
        return;
      }
      textarea.value = '';
      warning.value = '';
      showWarning(false);
      for (const item of [...attachments]) removeAttachment(item);
      refresh();
      toast(replyTo ? 'Reply posted.' : 'Posted.');
      onPosted(status);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      refresh();
    }
  }

  textarea.addEventListener('input', refresh);
  warning.addEventListener('input', refresh);
  if (replyTo?.spoiler_text) {
    warning.value = replyTo.spoiler_text;
    warningField.hidden = false;
    warningToggle.setAttribute('aria-pressed', 'true');
  }
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      post();
    }
  });
  textarea.addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) {
      event.preventDefault();
      addFiles(files);
    }
  });
  refresh();
  const focus = () => {
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  };
  if (autofocus) queueMicrotask(focus);
  return { el: form, focus, addFiles };
}
