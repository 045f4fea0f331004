// The signed-in user's live stream: one websocket speaking Mastodon's streaming protocol
// (GET /api/v1/streaming, stream=user: home updates, deletes, status updates and notifications; hashtag
// streams on request). It reconnects on its own with backoff (at once when the browser is back online),
// resuming with `last_event_id`, the `id` of the last frame received, so the server replays what was
// missed before anything live; `reload` means too much was missed. Every (re)connection emits `open`.

const handlers = new Map(); // event name -> Set of functions (payload, stream) => void
const extra = new Map(); // "hashtag:cats" -> { stream, tag, users } subscriptions beyond the user stream
let socket = null;
let accessToken = null;
let lastEventId = null;
let attempts = 0;
let retryTimer = null;
let state = 'offline';
let everOpened = false;

function emit(event, data, stream = null) {
  for (const fn of handlers.get(event) || []) {
    try {
      fn(data, stream);
    } catch (error) {
      console.error(error);
    }
  }
}

function setState(next) {
  if (state === next) return;
  state = next;
  emit('state', next);
}

/**
 * Listen to an event: update, delete, status.update, notification (with the frame's stream, e.g.
 * ["user"] or ["hashtag", "cats"]), reload, open ({ reconnected }), state. Returns the unsubscribe.
 */
export function on(event, fn) {
  if (!handlers.has(event)) handlers.set(event, new Set());
  handlers.get(event).add(fn);
  return () => handlers.get(event).delete(fn);
}

export function currentState() {
  return state;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function subscription(stream, tag) {
  // A list stream names its list as `list` (Mastodon's protocol); a hashtag stream its `tag`.
  return stream === 'list' ? { stream, list: tag } : tag === undefined ? { stream } : { stream, tag };
}

/** Also receive a hashtag's (or a list's: `subscribe('list', id)`) stream while someone looks at it; returns the undo. */
export function subscribe(stream, tag) {
  const key = `${stream}:${tag}`;
  const entry = extra.get(key) || { stream, tag, users: 0 };
  entry.users += 1;
  extra.set(key, entry);
  if (entry.users === 1) send({ type: 'subscribe', ...subscription(stream, tag) });
  return () => {
    entry.users -= 1;
    if (entry.users === 0) {
      extra.delete(key);
      send({ type: 'unsubscribe', ...subscription(stream, tag) });
    }
  };
}

function streamUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = new URLSearchParams({ stream: 'user' });
  if (lastEventId) query.set('last_event_id', lastEventId);
  return `${scheme}//${location.host}/api/v1/streaming?${query}`;
}

function scheduleReconnect() {
  clearTimeout(retryTimer);
  if (!accessToken) return;
  // 0.5 s, 1 s, 2 s ... up to 15 s, with jitter so a restarted server is not hit by everyone at once.
  const delay = Math.min(15000, 500 * 2 ** attempts) * (0.75 + Math.random() / 2);
  attempts += 1;
  retryTimer = setTimeout(open, delay);
}

function handleMessage(raw) {
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    return;
  }
  if (!message || typeof message.event !== 'string') return;
  if (typeof message.id === 'string' && message.id) lastEventId = message.id;
  let payload = message.payload;
  if (message.event !== 'delete' && typeof payload === 'string') {
    try {
      payload = JSON.parse(payload);
    } catch {
      return;
    }
  }
  emit(message.event, payload, message.stream || ['user']);
}

function open() {
  clearTimeout(retryTimer);
  if (!accessToken || (socket && socket.readyState <= WebSocket.OPEN)) return;
  setState('connecting');
  // The token travels as the subprotocol (as Mastodon's web client sends it), so it stays out of URLs and logs.
  const ws = new WebSocket(streamUrl(), accessToken);
  socket = ws;
  ws.addEventListener('open', () => {
    if (socket !== ws) return;
    attempts = 0;
    setState('live');
    for (const { stream, tag } of extra.values()) send({ type: 'subscribe', ...subscription(stream, tag) });
    emit('open', { reconnected: everOpened });
    everOpened = true;
  });
  ws.addEventListener('message', (event) => {
    if (socket === ws) handleMessage(event.data);
  });
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return;
    socket = null;
    setState('offline');
    if (event.code === 4401) {
      emit('unauthorized');
      return;
    }
    if (event.code === 4400) lastEventId = null; // a cursor the server no longer understands: go live
    scheduleReconnect();
  });
  ws.addEventListener('error', () => ws.close());
}

/**
 * Start streaming for this token. `since` is the resume position to start from ("HOME_NOTIFICATIONS":
 * the newest home post and notification the page has read): the server replays anything newer before
 * going live, so nothing falls between the page's first reads and the stream.
 */
export function connect(tokenValue, since = null) {
  accessToken = tokenValue;
  lastEventId = since;
  attempts = 0;
  open();
}

/** Stop for good (sign-out). */
export function disconnect() {
  accessToken = null;
  lastEventId = null;
  clearTimeout(retryTimer);
  const ws = socket;
  socket = null;
  everOpened = false;
  if (ws) ws.close(1000);
  setState('offline');
}

window.addEventListener('online', () => {
  if (accessToken && !socket) {
    attempts = 0;
    open();
  }
});
window.addEventListener('offline', () => {
  // The socket may take long to notice; close it so the reconnect starts as soon as the network returns.
  if (socket) socket.close();
});
