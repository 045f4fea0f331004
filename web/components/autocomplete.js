// @mention and #hashtag completion for a textarea, from GET /api/v2/search (accounts or hashtags).
// A listbox under the field: arrow keys move, Enter or Tab picks, Escape closes.

import { api } from '../api.js';
import { debounce, h } from '../dom.js';
import { avatar, displayName } from './account.js';

const TOKEN = /(^|[\s(])([@#])([\p{L}\p{N}_]{1,30})$/u;
let counter = 0;

export function attachAutocomplete(textarea) {
  const id = `ac-${++counter}`;
  const list = h('ul', { class: 'autocomplete', role: 'listbox', id, hidden: true });
  let options = [];
  let active = -1;
  let current = null; // { start, end, symbol }
  let controller = null;

  textarea.setAttribute('aria-autocomplete', 'list');
  textarea.setAttribute('aria-controls', id);
  textarea.setAttribute('aria-expanded', 'false');

  function close() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    textarea.setAttribute('aria-expanded', 'false');
    textarea.removeAttribute('aria-activedescendant');
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute('aria-selected', i === index ? 'true' : 'false'));
    if (index >= 0) textarea.setAttribute('aria-activedescendant', `${id}-${index}`);
  }

  function pick(index) {
    const option = options[index];
    if (!option || !current) return;
    const value = textarea.value;
    const insert = `${current.symbol}${option.insert} `;
    textarea.value = value.slice(0, current.start) + insert + value.slice(current.end);
    const caret = current.start + insert.length;
    textarea.setSelectionRange(caret, caret);
    close();
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
    textarea.focus();
  }

  function show(items) {
    options = items;
    list.replaceChildren(
      ...items.map((item, i) =>
        h(
          'li',
          {
            id: `${id}-${i}`,
            role: 'option',
            'aria-selected': 'false',
            onmousedown: (event) => {
              event.preventDefault(); // keep the textarea focused
              pick(i);
            },
          },
          item.view,
        ),
      ),
    );
    list.hidden = items.length === 0;
    textarea.setAttribute('aria-expanded', items.length ? 'true' : 'false');
    highlight(items.length ? 0 : -1);
  }

  const lookup = debounce(async (symbol, text) => {
    controller?.abort();
    controller = new AbortController();
    const type = symbol === '@' ? 'accounts' : 'hashtags';
    try {
      const result = await api('/api/v2/search', { query: { q: text, type, limit: 5 }, signal: controller.signal });
      if (!current || current.symbol !== symbol) return;
      if (symbol === '@') {
        show(result.accounts.map((a) => ({ insert: a.acct, view: [avatar(a, 'xs'), h('strong', {}, displayName(a)), h('span', { class: 'acct' }, ` @${a.acct}`)] })));
      } else {
        show(result.hashtags.map((t) => ({ insert: t.name, view: `#${t.name}` })));
      }
    } catch (error) {
      if (error.name !== 'AbortError') close();
    }
  }, 180);

  textarea.addEventListener('input', () => {
    const caret = textarea.selectionStart;
    const match = textarea.value.slice(0, caret).match(TOKEN);
    if (!match) {
      current = null;
      close();
      return;
    }
    current = { symbol: match[2], start: caret - match[3].length - 1, end: caret };
    lookup(match[2], match[3]);
  });
  textarea.addEventListener('keydown', (event) => {
    if (list.hidden || !options.length) return;
    if (event.key === 'ArrowDown') highlight((active + 1) % options.length);
    else if (event.key === 'ArrowUp') highlight((active - 1 + options.length) % options.length);
    else if (event.key === 'Enter' || event.key === 'Tab') pick(active);
    else if (event.key === 'Escape') close();
    else return;
    event.preventDefault();
    event.stopPropagation();
  });
  textarea.addEventListener('blur', () => setTimeout(close, 150));
  return list;
}
