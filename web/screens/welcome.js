// Signed out: what Chirp is, sign in (the server's OAuth page), or create an account here.

import { h } from '../dom.js';
import { register } from '../auth.js';
import { ui } from '../state.js';

function field(label, attrs) {
  const id = `register-${attrs.name}`;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, required: true, ...attrs }));
}

export function render(main) {
  document.title = 'Chirp';
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const form = h(
    'form',
    {
      class: 'register',
      'aria-labelledby': 'register-title',
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        submit.disabled = true;
        error.textContent = '';
        try {
          await register({
            username: data.get('username'),
            email: data.get('email'),
            password: data.get('password'),
            agreement: data.get('agreement') === 'on',
          });
          location.assign('/'); // start again, signed in
        } catch (failure) {
          error.textContent = failure.message;
          submit.disabled = false;
        }
      },
    },
    h('h2', { id: 'register-title' }, 'New here? Create an account'),
    field('Username', { name: 'username', autocomplete: 'username', pattern: '[A-Za-z0-9_]{1,30}', title: 'Letters, digits and underscores, up to 30' }),
    field('E-mail address', { name: 'email', type: 'email', autocomplete: 'email' }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: '8' }),
    h('div', { class: 'field checkbox' }, h('input', { type: 'checkbox', id: 'register-agreement', name: 'agreement', required: true }), h('label', { for: 'register-agreement' }, 'I agree to the rules of this server')),
    error,
    submit,
  );
  main.append(
    h(
      'section',
      { class: 'welcome' },
      h('h1', {}, 'Chirp'),
      h('p', { class: 'lead' }, 'Short posts, live. Follow people and see what they write the moment they write it.'),
      h('button', { type: 'button', class: 'primary big', onclick: () => ui.signIn('/') }, 'Sign in'),
      form,
    ),
  );
  return null;
}
