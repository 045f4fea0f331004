// What every screen shares: who is signed in, the server's limits, and the app's navigation hooks
// (set by app.js at start, so components need not import the router).

export const session = {
  me: null, // the signed-in Account, or null
  maxChars: 500,
  maxMedia: 4,
};

export const ui = {
  navigate: (path) => location.assign(path),
  compose: () => {},
  signIn: () => {},
};

// Reactions other than like (the like has its own button); the server's default list.
export const REACTIONS = ['love', 'dislike', 'laugh'];
export const REACTION_EMOJI = { like: '♥', love: '😍', dislike: '👎', laugh: '😂' };
export const REACTION_LABEL = { like: 'Like', love: 'Love', dislike: 'Dislike', laugh: 'Laugh' };

export function isMe(account) {
  return Boolean(session.me && account && session.me.id === account.id);
}
