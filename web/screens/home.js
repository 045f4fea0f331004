// Home: the compose box and the home timeline, live over the websocket. A reconnecting stream replays
// what was missed (stream.js), so new posts arrive here in order whatever happened to the connection.

import { h } from '../dom.js';
import * as stream from '../stream.js';
import { composer } from '../components/compose.js';
import { timeline } from '../components/timeline.js';
import { removeStatus } from '../components/status.js';

export const keepAlive = true;

export function render(main) {
  const feed = timeline({ first: '/api/v1/timelines/home?limit=20', label: 'Home timeline', empty: 'Your home timeline is empty: follow someone, or write the first post.' });
  const compose = composer({ onPosted: (status) => feed.offer([status], { own: true }) });
  main.append(
    h('h1', { class: 'screen-title' }, 'Home'),
    h('div', { class: 'compose-inline' }, compose.el),
    feed.el,
  );

  main.addEventListener('chirp:shown', () => feed.settle());
  const posted = (event) => feed.offer([event.detail], { own: true }); // from the compose dialog
  window.addEventListener('chirp:posted', posted);
  const unsubscribe = [
    () => window.removeEventListener('chirp:posted', posted),
    stream.on('update', (status, from) => from[0] === 'user' && feed.offer([status])),
    stream.on('reload', () => feed.reload()), // the server could not replay everything missed
    stream.on('delete', (id) => {
      feed.remove(String(id));
      removeStatus(String(id));
    }),
  ];
  return () => {
    unsubscribe.forEach((off) => off());
    feed.destroy();
  };
}
