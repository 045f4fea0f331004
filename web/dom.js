// Building the page safely. Everything from the server is inserted as text, except a post's or bio's
// `content` HTML, which goes through `safeHTML`: parsed in an inert document and copied element by element
// through an allowlist. The page's CSP enforces Trusted Types, so no other HTML string can reach the DOM.

const SVG = 'http://www.w3.org/2000/svg';

// The one Trusted Types policy: it only hands strings to DOMParser, whose document never runs scripts,
// loads images or fires events; nothing parsed there reaches the page except through the allowlist below.
const inert = window.trustedTypes
  ? window.trustedTypes.createPolicy('chirp-inert', { createHTML: (text) => text })
  : { createHTML: (text) => text };

/** h('a', {href, class, onclick}, ...children): an element; strings become text nodes, never markup. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'value' || name === 'checked' || name === 'disabled' || name === 'hidden') {
      el[name] = value;
    } else if (name === 'style' || name.startsWith('on')) {
      throw new Error(`h(): ${name} is not allowed`);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** An SVG icon from path data (decorative: hidden from assistive technology). */
export function icon(paths, cls = 'icon') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', cls);
  for (const d of [paths].flat()) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

const ALLOWED = new Set(['P', 'BR', 'A', 'SPAN']);
const DROPPED = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'IFRAME', 'OBJECT', 'EMBED', 'NOSCRIPT', 'SVG', 'MATH']);
const CLASS_TOKEN = /^[a-z][a-z0-9-]*$/;

/** Where a link in server HTML goes: mentions and hashtags stay in the client, other links open outside. */
function linkTarget(anchor) {
  let url;
  try {
    url = new URL(anchor.getAttribute('href') || '', location.origin);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const classes = anchor.classList;
  if (classes.contains('hashtag') || classes.contains('mention')) {
    if (/^\/(@[A-Za-z0-9_]+|tags\/[^/]+)$/.test(url.pathname)) return { href: url.pathname, internal: true };
  }
  return { href: url.href, internal: false };
}

function copyAllowed(from, into) {
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      into.append(document.createTextNode(node.data));
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      const tag = node.tagName.toUpperCase();
      if (DROPPED.has(tag)) continue;
      if (!ALLOWED.has(tag)) {
        copyAllowed(node, into); // unknown markup: keep its text, drop the element
        continue;
      }
      const el = document.createElement(tag.toLowerCase());
      const classes = [...node.classList].filter((c) => CLASS_TOKEN.test(c));
      if (classes.length && tag !== 'BR') el.className = classes.join(' ');
      if (tag === 'A') {
        const target = linkTarget(node);
        if (target) {
          el.setAttribute('href', target.href);
          if (!target.internal) {
            el.setAttribute('target', '_blank');
            el.setAttribute('rel', 'nofollow noopener noreferrer');
          }
        }
      }
      copyAllowed(node, el);
      into.append(el);
    }
  }
}

/** Server HTML (already sanitised by the server) as a fragment holding only p, br, a and span. */
export function safeHTML(html) {
  const doc = new DOMParser().parseFromString(inert.createHTML(String(html || '')), 'text/html');
  const fragment = document.createDocumentFragment();
  copyAllowed(doc.body, fragment);
  return fragment;
}

/** The plain text of server HTML (for notification excerpts and titles). */
export function plainText(html) {
  const doc = new DOMParser().parseFromString(inert.createHTML(String(html || '')), 'text/html');
  for (const br of doc.querySelectorAll('br')) br.replaceWith('\n');
  for (const p of doc.querySelectorAll('p')) p.append('\n');
  return (doc.body.textContent || '').trim();
}

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A <time> showing "5 min. ago", with the full date as its title. */
export function timeAgo(iso) {
  const date = new Date(iso);
  const seconds = (date.getTime() - Date.now()) / 1000;
  let text = 'now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) {
      text = relative.format(Math.round(seconds / size), unit);
      break;
    }
  }
  return h('time', { datetime: iso, title: absolute.format(date) }, text);
}

export function fullDate(iso) {
  return h('time', { datetime: iso }, absolute.format(new Date(iso)));
}

const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'long' });

export function dateOnly(iso) {
  return h('time', { datetime: iso }, day.format(new Date(iso)));
}

export function compareIds(a, b) {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function newestId(ids) {
  return ids.reduce((best, id) => (best === null || compareIds(id, best) > 0 ? id : best), null);
}

let toastArea = null;

/** A short message for everyone, screen readers included (role=status region). */
export function toast(message, kind = 'info') {
  toastArea ||= document.getElementById('toasts');
  const item = h('p', { class: ['toast', `toast-${kind}`] }, message);
  toastArea.append(item);
  setTimeout(() => item.remove(), 5000);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function formatCount(n) {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1).replace(/\.0$/, '')}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}K`;
  return String(n);
}
