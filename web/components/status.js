// A post (Mastodon Status) as a card, with its actions. Every card on the page registers under its post's
// id, so a new version of the post (an action's answer, or a live status.update) refreshes all of them.

import { api, token } from '../api.js';
import { fullDate, h, icon, safeHTML, timeAgo, toast, formatCount, clear } from '../dom.js';
import { REACTIONS, REACTION_EMOJI, REACTION_LABEL, isMe, ui } from '../state.js';
import { avatar, displayName, profilePath } from './account.js';
import { editedMark, editPost } from './edit.js';
import { ICONS } from './icons.js';
import { pollBlock } from './poll.js';
import { blurredMedia, filterState, filteredNotice, moreMenu, postSafetyItems } from './safety.js';

const cards = new Map(); // post id -> Set of live card records { el, refresh }

function register(id, record) {
  if (!cards.has(id)) cards.set(id, new Set());
  cards.get(id).add(record);
}

function recordsFor(id) {
  const records = cards.get(id);
  if (!records) return [];
  // A card off the page is forgotten, unless it belongs to a screen kept for coming back to (home).
  for (const record of records) if (!record.el.isConnected && !record.el.closest('[data-keep-alive]')) records.delete(record);
  return [...records];
}

/** A newer version of a post (or of a repost's original) arrived: refresh every card showing it. */
export function updateStatus(entity) {
  if (!entity) return;
  const original = entity.reblog || entity;
  for (const record of recordsFor(original.id)) record.refresh(original);
}

/** A post was deleted: take it, and the reposts of it, off the page. */
export function removeStatus(id) {
  for (const record of recordsFor(id)) record.remove();
  for (const el of document.querySelectorAll(`[data-reblog-of="${CSS.escape(id)}"]`)) el.remove();
}

export function statusPath(status) {
  return `/statuses/${status.id}`;
}

function requireSignIn(what) {
  if (token()) return true;
  toast(`Sign in to ${what}.`);
  ui.signIn(location.pathname);
  return false;
}

async function act(button, path, method, what) {
  if (!requireSignIn(what)) return;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    updateStatus(await api(path, { method }));
  } catch (error) {
    toast(error.message, 'error');
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

function countButton({ name, label, iconPath, count, pressed, onclick, disabled }) {
  const attrs = {
    type: 'button',
    class: ['action', `action-${name}`, pressed && 'on'],
    'aria-label': `${label}${count ? `, ${count}` : ''}`,
    title: label,
    dataset: { action: name },
    onclick,
    disabled,
  };
  if (pressed !== undefined) attrs['aria-pressed'] = pressed ? 'true' : 'false';
  return h('button', attrs, icon(iconPath), h('span', { class: 'count' }, count ? formatCount(count) : ''));
}

function reactionMenu(status, anchor) {
  let open = true;
  // Moving focus out of the menu fires focusout, which closes it too: the flag makes closing happen once.
  const close = (refocus = true) => {
    if (!open) return;
    open = false;
    anchor.setAttribute('aria-expanded', 'false');
    if (refocus) anchor.focus();
    menu.remove();
    anchor.dispatchEvent(new Event('chirp:menu-closed', { bubbles: true }));
  };
  const menu = h(
    'div',
    {
      class: 'reaction-menu',
      role: 'menu',
      'aria-label': 'React',
      onkeydown: (event) => {
        const items = [...menu.querySelectorAll('button')];
        const at = items.indexOf(document.activeElement);
        if (event.key === 'Escape') close();
        else if (event.key === 'ArrowRight' || event.key === 'ArrowDown') items[(at + 1) % items.length].focus();
        else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') items[(at - 1 + items.length) % items.length].focus();
        else return;
        event.preventDefault();
      },
      onfocusout: (event) => {
        if (!menu.contains(event.relatedTarget)) close(false);
      },
    },
    REACTIONS.map((name) => {
      const mine = (status.reactions || []).some((r) => r.name === name && r.me);
      return h(
        'button',
        {
          type: 'button',
          role: 'menuitemcheckbox',
          'aria-checked': mine ? 'true' : 'false',
          title: REACTION_LABEL[name] || name,
          'aria-label': REACTION_LABEL[name] || name,
          dataset: { reaction: name },
          onclick: async (event) => {
            const button = event.currentTarget;
            close();
            await act(button, `/api/v1/statuses/${status.id}/reactions/${name}`, mine ? 'DELETE' : 'PUT', 'react');
          },
        },
        REACTION_EMOJI[name] || name,
      );
    }),
  );
  anchor.setAttribute('aria-expanded', 'true');
  anchor.after(menu);
  menu.querySelector('button').focus();
}

function reactionChips(status) {
  const shown = (status.reactions || []).filter((r) => r.name !== 'like' && r.count > 0);
  if (!shown.length) return null;
  return h(
    'div',
    { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
    shown.map((r) =>
      h(
        'button',
        {
          type: 'button',
          class: ['reaction', r.me && 'on'],
          'aria-pressed': r.me ? 'true' : 'false',
          'aria-label': `${REACTION_LABEL[r.name] || r.name}, ${r.count}`,
          dataset: { reaction: r.name },
          onclick: (event) =>
            act(event.currentTarget, `/api/v1/statuses/${status.id}/reactions/${r.name}`, r.me ? 'DELETE' : 'PUT', 'react'),
        },
        h('span', { 'aria-hidden': 'true' }, REACTION_EMOJI[r.name] || r.name),
        h('span', { class: 'count' }, formatCount(r.count)),
      ),
    ),
  );
}

function actionBar(status) {
  const shareable = status.visibility === 'public' || status.visibility === 'unlisted';
  const bar = h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': 'Post actions' },
    countButton({
      name: 'reply',
      label: 'Reply',
      iconPath: ICONS.reply,
      count: status.replies_count,
      onclick: () => requireSignIn('reply') && ui.compose({ replyTo: status }),
    }),
    countButton({
      name: 'repost',
      label: status.reblogged ? 'Undo repost' : 'Repost',
      iconPath: ICONS.repost,
      count: status.reblogs_count,
      pressed: status.reblogged,
      disabled: !shareable && !status.reblogged,
      onclick: (event) =>
        act(event.currentTarget, `/api/v1/statuses/${status.id}/${status.reblogged ? 'unreblog' : 'reblog'}`, 'POST', 'repost'),
    }),
    countButton({
      name: 'quote',
      label: 'Quote',
      iconPath: ICONS.quote,
      count: status.quotes_count,
      disabled: !shareable,
      onclick: () => requireSignIn('quote posts') && ui.compose({ quote: status }),
    }),
    countButton({
      name: 'like',
      label: status.favourited ? 'Unlike' : 'Like',
      iconPath: ICONS.heart,
      count: status.favourites_count,
      pressed: status.favourited,
      onclick: (event) =>
        act(event.currentTarget, `/api/v1/statuses/${status.id}/${status.favourited ? 'unfavourite' : 'favourite'}`, 'POST', 'like posts'),
    }),
    h(
      'div',
      { class: 'react-wrap' },
      h(
        'button',
        {
          type: 'button',
          class: 'action action-react',
          'aria-label': 'React',
          title: 'React',
          'aria-haspopup': 'menu',
          'aria-expanded': 'false',
          dataset: { action: 'react' },
          onclick: (event) => requireSignIn('react') && reactionMenu(status, event.currentTarget),
        },
        icon(ICONS.smile),
      ),
    ),
    countButton({
      name: 'bookmark',
      label: status.bookmarked ? 'Remove bookmark' : 'Bookmark',
      iconPath: ICONS.bookmark,
      pressed: Boolean(status.bookmarked),
      onclick: (event) =>
        act(event.currentTarget, `/api/v1/statuses/${status.id}/${status.bookmarked ? 'unbookmark' : 'bookmark'}`, 'POST', 'bookmark posts'),
    }),
    // Pins: only one's own public or unlisted posts (the server refuses others with a 422).
    isMe(status.account) && !status.reblog && shareable
      ? countButton({
          name: 'pin',
          label: status.pinned ? 'Unpin from profile' : 'Pin to profile',
          iconPath: ICONS.pin,
          pressed: Boolean(status.pinned),
          onclick: (event) => act(event.currentTarget, `/api/v1/statuses/${status.id}/${status.pinned ? 'unpin' : 'pin'}`, 'POST', 'pin posts'),
        })
      : null,
    isMe(status.account) && !status.reblog
      ? h(
          'button',
          {
            type: 'button',
            class: 'action action-edit',
            'aria-label': 'Edit',
            title: 'Edit',
            dataset: { action: 'edit' },
            onclick: () => editPost(status, updateStatus),
          },
          icon(ICONS.pen),
        )
      : null,
    token() && !isMe(status.account) ? moreMenu('More', () => postSafetyItems(status, () => hideAccount(status.account.id))) : null,
    isMe(status.account)
      ? h(
          'button',
          {
            type: 'button',
            class: 'action action-delete',
            'aria-label': 'Delete',
            title: 'Delete',
            dataset: { action: 'delete' },
            onclick: async () => {
              if (!window.confirm('Delete this post?')) return;
              try {
                await api(`/api/v1/statuses/${status.id}`, { method: 'DELETE' });
                removeStatus(status.id);
                toast('Post deleted.');
              } catch (error) {
                toast(error.message, 'error');
              }
            },
          },
          icon(ICONS.trash),
        )
      : null,
  );
  return bar;
}

/** A muted or blocked account's posts (and reposts by them) leave the page at once. */
function hideAccount(accountId) {
  const id = CSS.escape(accountId);
  for (const el of document.querySelectorAll(`article.status[data-account-id="${id}"], article.status[data-reposter-id="${id}"]`)) el.remove();
}

function mediaGrid(attachments) {
  if (!attachments || !attachments.length) return null;
  return h(
    'div',
    { class: ['media', `media-${Math.min(attachments.length, 4)}`] },
    attachments.map((m) => {
      const alt = m.description || '';
      if (!m.url) return h('div', { class: 'media-pending' }, 'Processing…');
      if (m.type === 'video' || m.type === 'gifv') {
        const gif = m.type === 'gifv';
        return h('video', {
          src: m.url,
          poster: m.preview_url || undefined,
          controls: !gif,
          autoplay: gif,
          loop: gif,
          muted: gif,
          playsinline: true,
          preload: 'metadata',
          'aria-label': alt || (gif ? 'Animated image' : 'Video'),
        });
      }
      return h(
        'a',
        { class: 'media-link', href: m.url, target: '_blank', rel: 'noopener noreferrer' },
        h('img', { src: m.preview_url || m.url, alt, loading: 'lazy', decoding: 'async' }),
        alt ? h('span', { class: 'alt-badge', 'aria-hidden': 'true', title: alt }, 'ALT') : null,
      );
    }),
  );
}

function body(status) {
  const content = h('div', { class: 'content', lang: status.language || undefined }, safeHTML(status.content));
  if (!status.spoiler_text) return content;
  return h('details', { class: 'spoiler' }, h('summary', {}, status.spoiler_text), content);
}

/** The quoted post inside a quote, small. */
function quoteBlock(status) {
  const quote = status.quote;
  if (!quote) return null;
  const quoted = quote.quoted_status;
  if (quote.state !== 'accepted' || !quoted) {
    return h('div', { class: 'quote quote-missing' }, quote.state === 'deleted' ? 'The quoted post was deleted.' : 'The quoted post is not available.');
  }
  return h(
    'a',
    { class: 'quote', href: statusPath(quoted), 'aria-label': `Quoted post by ${displayName(quoted.account)}` },
    h(
      'span',
      { class: 'quote-head' },
      avatar(quoted.account, 'xs'),
      h('strong', {}, displayName(quoted.account)),
      h('span', { class: 'acct' }, `@${quoted.account.acct}`),
    ),
    h('span', { class: 'content' }, quoted.spoiler_text ? quoted.spoiler_text : safeHTML(quoted.content)),
    quoted.media_attachments?.length
      ? h(
          'span',
          { class: 'quote-media' },
          quoted.media_attachments.map((m) =>
            m.preview_url ? h('img', { src: m.preview_url, alt: m.description || '', loading: 'lazy' }) : h('span', {}, m.type),
          ),
        )
      : null,
  );
}

const replyAccounts = new Map(); // account id -> Promise of the Account (one request per account per page load)

function replyAccount(id) {
  if (!replyAccounts.has(id)) replyAccounts.set(id, api(`/api/v1/accounts/${id}`));
  return replyAccounts.get(id);
}

function replyLine(status) {
  if (!status.in_reply_to_id) return null;
  const mention = (status.mentions || []).find((m) => m.id === status.in_reply_to_account_id);
  const self = status.in_reply_to_account_id === status.account.id;
  if (self) return h('p', { class: 'reply-to' }, 'Replying to themselves');
  if (mention) return h('p', { class: 'reply-to' }, 'Replying to ', h('a', { href: `/@${mention.acct}` }, `@${mention.acct}`));
  // A reply need not mention whom it answers: ask who that is, and name them when the answer comes.
  const link = h('a', { href: `/statuses/${status.in_reply_to_id}` }, 'a post');
  if (status.in_reply_to_account_id) {
    replyAccount(status.in_reply_to_account_id)
      .then((account) => {
        link.textContent = `@${account.acct}`;
        link.href = profilePath(account);
      })
      .catch(() => {}); // the account is gone: "a post" stays, linking to it
  }
  return h('p', { class: 'reply-to' }, 'Replying to ', link);
}

/** What the action bar and reactions show of a post: a new version differing only elsewhere redraws nothing. */
function signature(s) {
  return JSON.stringify([s.replies_count, s.reblogs_count, s.favourites_count, s.quotes_count, s.favourited, s.reblogged, s.reactions, s.bookmarked, s.pinned]);
}

const INTERACTIVE = 'a, button, input, textarea, select, video, summary, label, [role="menu"]';

/**
 * A post's card. `entity` may be a repost (shown as its original, with who reposted it).
 * Options: `focused` (the thread's main post: larger, full date), `onRemove` (instead of removing the element).
 */
export function statusCard(entity, { focused = false, onRemove = null } = {}) {
  const repost = entity.reblog ? entity : null;
  let status = entity.reblog || entity;
  const el = h('article', {
    class: ['status', focused && 'status-focused'],
    tabindex: '0',
    dataset: { id: entity.id, statusId: status.id, accountId: status.account.id, ...(repost ? { reblogOf: status.id, reposterId: repost.account.id } : {}) },
  });
  const parts = {};
  const filters = filterState(entity);
  let revealed = false; // "Show anyway" on a post under a warn filter

  function render() {
    clear(el);
    if (filters.warn.length && !revealed) {
      el.setAttribute('aria-label', 'Filtered post');
      el.classList.add('status-filtered');
      el.append(filteredNotice(filters.warn, () => { revealed = true; el.classList.remove('status-filtered'); render(); }));
      return;
    }
    el.setAttribute('aria-label', `${repost ? `${displayName(repost.account)} reposted: ` : ''}Post by ${displayName(status.account)}`);
    parts.actions = actionBar(status);
    parts.reactions = h('div', { class: 'reactions-slot' }, reactionChips(status));
    parts.drawn = signature(status);
    el.append(
      repost
        ? h('p', { class: 'reposted-by' }, icon(ICONS.repost, 'icon icon-sm'), h('a', { href: profilePath(repost.account) }, displayName(repost.account)), ' reposted')
        : '',
      h(
        'div',
        { class: 'status-grid' },
        h('a', { class: 'avatar-link', href: profilePath(status.account), tabindex: '-1', 'aria-hidden': 'true' }, avatar(status.account)),
        h(
          'div',
          { class: 'status-main' },
          h(
            'header',
            { class: 'status-head' },
            h('a', { class: 'name-link', href: profilePath(status.account) }, h('strong', { class: 'name' }, displayName(status.account)), ' ', h('span', { class: 'acct' }, `@${status.account.acct}`)),
            h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
            h('a', { class: 'time', href: statusPath(status) }, focused ? fullDate(status.created_at) : timeAgo(status.created_at)),
            status.visibility !== 'public' ? h('span', { class: 'visibility' }, status.visibility) : null,
            editedMark(status),
          ),
          replyLine(status),
          body(status),
          filters.blur.length ? blurredMedia(mediaGrid(status.media_attachments), filters.blur) : mediaGrid(status.media_attachments),
          pollBlock(status, (poll) => updateStatus({ ...status, poll })),
          quoteBlock(status),
          parts.reactions,
          parts.actions,
        ),
      ),
    );
  }

  /** Counts, flags and reactions changed: swap just those parts, keeping focus on the same control. */
  function refresh(next) {
    if (next.edited_at !== status.edited_at || JSON.stringify(next.poll) !== JSON.stringify(status.poll)) {
      status = next; // a new version or new poll counts: the whole card, not just its actions
      render();
      return;
    }
    if (signature(next) === signature(status)) return;
    status = next;
    if (!parts.actions) return; // behind a filter's notice: drawn when shown
    if (el.querySelector('.reaction-menu')) return; // redrawn when the menu closes, not under the reader's hand
    redrawActions();
  }

  function redrawActions() {
    const focusedAction = el.contains(document.activeElement) ? document.activeElement.dataset?.action : null;
    const actions = actionBar(status);
    parts.actions.replaceWith(actions);
    parts.actions = actions;
    const reactions = h('div', { class: 'reactions-slot' }, reactionChips(status));
    parts.reactions.replaceWith(reactions);
    parts.reactions = reactions;
    parts.drawn = signature(status);
    if (focusedAction) actions.querySelector(`[data-action="${focusedAction}"]`)?.focus();
  }

  function remove() {
    if (onRemove) onRemove(el);
    else el.remove();
  }

  el.addEventListener('chirp:menu-closed', () => {
    if (signature(status) !== parts.drawn) redrawActions();
  });
  el.addEventListener('click', (event) => {
    if (focused || event.target.closest(INTERACTIVE) || String(window.getSelection())) return;
    ui.navigate(statusPath(status));
  });
  el.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && event.target === el && !focused) ui.navigate(statusPath(status));
  });

  render();
  register(status.id, { el, refresh, remove });
  return el;
}
