// A list of posts with infinite scroll (the API's cursor pagination, following Link rel="next") and,
// for live lists, new posts arriving without moving what the reader is looking at: at the top of the page
// they appear at once; scrolled down, they wait behind a "3 new posts" button.

import { page } from '../api.js';
import { compareIds, h, toast } from '../dom.js';
import { statusCard } from './status.js';

const START = Symbol('first page'); // the cursor of a `load` list's first page
const REACH = 600; // px below the window within which the next page is fetched
const NEAR_TOP = 120; // px: closer than this to the top counts as reading the newest posts

/**
 * `first`: the path of the first page (pages follow the Link header), or `load(cursor)` for other lists:
 * it gets null first, then the `next` it returned, and answers { items, next }. `render(item)`: an element for an item (default: a post card).
 * `empty`: what to say when there is nothing. Returns { el, offer(items), remove(id), newest(), reload(), destroy() }.
 */
export function timeline({ first = null, load = page, render = (item) => statusCard(item), empty = 'Nothing here yet.', label = 'Posts' }) {
  const seen = new Set();
  let pending = [];
  let next = first || START;
  let loading = false;
  let loaded = false;
  let newestSeen = null;

  const list = h('div', { class: 'feed', role: 'feed', 'aria-label': label, 'aria-busy': 'true' });
  const pill = h('button', { type: 'button', class: 'new-posts', hidden: true, onclick: () => showPending(true) });
  const status = h('p', { class: 'feed-status', role: 'status' }, 'Loading…');
  const more = h('button', { type: 'button', class: 'load-more', hidden: true, onclick: () => loadMore() }, 'Load more');
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  // The pill floats over the list in a slot of no height, so showing it moves nothing.
  const el = h('section', { class: 'timeline' }, h('div', { class: 'pill-slot' }, pill), list, status, more, sentinel);

  function note(id) {
    if (newestSeen === null || compareIds(id, newestSeen) > 0) newestSeen = id;
  }

  function append(items) {
    for (const item of items) {
      note(item.id);
      if (seen.has(item.id)) continue;
      seen.add(item.id);
      list.append(render(item));
    }
  }

  function prepend(items) {
    const fresh = items.filter((item) => !seen.has(item.id));
    fresh.sort((a, b) => compareIds(b.id, a.id));
    for (const item of [...fresh].reverse()) {
      seen.add(item.id);
      list.prepend(render(item));
    }
    if (seen.size && status.textContent === empty) status.textContent = '';
  }

  function updatePill() {
    pill.hidden = pending.length === 0;
    pill.textContent = pending.length === 1 ? '1 new post' : `${pending.length} new posts`;
  }

  function showPending(scroll) {
    const items = pending;
    pending = [];
    prepend(items);
    updatePill();
    if (scroll) {
      window.scrollTo({ top: 0 });
      list.querySelector('.status')?.focus({ preventScroll: true });
    }
  }

  function atTop() {
    return window.scrollY < NEAR_TOP && el.isConnected && document.visibilityState !== 'hidden';
  }

  /**
   * Live items (newest first or not): shown at once when the reader is at the top, else held behind the
   * pill. `own`: the reader's own new post, shown at once (scroll anchoring keeps what they read in place).
   */
  function offer(items, { own = false } = {}) {
    const fresh = items.filter((item) => !seen.has(item.id) && !pending.some((p) => p.id === item.id));
    for (const item of items) note(item.id);
    if (!fresh.length) return;
    if (!loaded) {
      pending.push(...fresh); // the first page is not in yet: merged (without duplicates) when it is
      return;
    }
    if (own) {
      pending.push(...fresh);
      showPending(false);
    } else if (atTop() && pending.length === 0) prepend(fresh);
    else {
      pending.push(...fresh);
      updatePill();
    }
  }

  function remove(id) {
    pending = pending.filter((item) => item.id !== id && item.reblog?.id !== id);
    updatePill();
    for (const card of list.querySelectorAll(`[data-id="${CSS.escape(id)}"]`)) card.remove();
  }

  async function loadMore() {
    if (loading || !next) return;
    loading = true;
    list.setAttribute('aria-busy', 'true');
    status.textContent = 'Loading…';
    try {
      const result = await load(next === START ? null : next);
      append(result.items);
      next = result.items.length ? result.next : null;
      if (!loaded) {
        loaded = true;
        const early = pending;
        pending = [];
        offer(early);
      }
      status.textContent = seen.size === 0 && !next ? empty : next ? '' : 'You have reached the end.';
    } catch (error) {
      status.textContent = error.message;
      toast(error.message, 'error');
    } finally {
      loading = false;
      list.setAttribute('aria-busy', 'false');
      more.hidden = !next;
    }
    // The observer only speaks when the sentinel comes into reach: if it still is, keep going.
    if (next && el.isConnected && sentinel.getBoundingClientRect().top < window.innerHeight + REACH) loadMore();
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  }, { rootMargin: `${REACH}px 0px` });
  observer.observe(sentinel);
  const onScroll = () => {
    if (pending.length && window.scrollY < 4 && loaded && el.isConnected) showPending(false);
  };
  window.addEventListener('scroll', onScroll, { passive: true });

  loadMore();
  return {
    el,
    offer,
    remove,
    newest: () => newestSeen,
    /** Back on screen: at the top, what arrived meanwhile is shown at once. */
    settle() {
      if (pending.length && loaded && atTop()) showPending(false);
    },
    destroy() {
      observer.disconnect();
      window.removeEventListener('scroll', onScroll);
    },
    loaded: () => loaded,
    /** Start again from the first page (after a gap too large to fill). */
    reload() {
      list.replaceChildren();
      seen.clear();
      pending = [];
      updatePill();
      next = first || START;
      loaded = false;
      newestSeen = null;
      loadMore();
    },
  };
}
