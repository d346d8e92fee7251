/**
 * The provider keys page: the namespace's secrets (names, pinned upstreams and injection
 * templates, never values) and the form that adds a provider key sealed in this browser.
 * The key typed in is read once into bytes, sealed (seal.ts), and wiped with the field; the
 * request carries only the sealed blob, the name, the upstream and the template.
 */
import type { ConsoleSecret } from '../api.js';
import { describe, getJson, postJson } from './client.js';
import { field, h, put, time } from './dom.js';
import { sealInBrowser, type SealingKey } from './seal.js';

type Secret = ConsoleSecret;

export function keysPage(namespace: string, sealing: boolean): HTMLElement {
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const body = h('tbody');
  const say = (text: string, kind: 'ok' | 'error' = 'ok') => {
    status.className = `status ${kind}`;
    status.textContent = text;
  };

  async function load() {
    try {
      const { secrets } = await getJson<{ secrets: Secret[] }>('/api/secrets');
      put(
        body,
        ...secrets.map((s) =>
          h(
            'tr',
            {},
            h(
              'td',
              {},
              h('code', {}, s.name),
              s.sealed && h('span', { class: 'badge sealed' }, 'sealed, not used yet'),
            ),
            h('td', {}, s.upstream ?? '—'),
            h('td', {}, s.inject ?? (s.upstream === undefined ? '—' : 'Authorization: Bearer {}')),
            h('td', {}, time(s.updatedAt)),
          ),
        ),
      );
      if (secrets.length === 0) put(body, h('tr', {}, h('td', { colspan: 4 }, 'No secrets yet.')));
    } catch (error) {
      say(`Could not load the secrets: ${describe(error)}`, 'error');
    }
  }
  void load();

  return h(
    'div',
    { class: 'page' },
    h(
      'section',
      { 'aria-labelledby': 'keys-title' },
      h('h2', { id: 'keys-title' }, 'Provider keys and secrets'),
      status,
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          {},
          h('caption', {}, `Secrets of ${namespace} (values are never shown)`),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Name', 'Pinned upstream', 'Injected as', 'Updated'].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          body,
        ),
      ),
    ),
    sealing
      ? sealSection(namespace, say, load)
      : h(
          'section',
          {},
          h('h2', {}, 'Add a provider key'),
          h('p', { class: 'muted' }, 'Sealed provider keys are not available on this build.'),
        ),
  );
}

function sealSection(
  namespace: string,
  say: (text: string, kind?: 'ok' | 'error') => void,
  reload: () => Promise<void>,
): HTMLElement {
  const name = h('input', {
    name: 'name',
    required: true,
    pattern: '[A-Za-z_][A-Za-z0-9_]{0,127}',
    placeholder: 'OPENAI_KEY',
    autocomplete: 'off',
  });
  const upstream = h('input', {
    name: 'upstream',
    type: 'url',
    required: true,
    placeholder: 'https://api.openai.com',
  });
  const inject = h('input', { name: 'inject', placeholder: 'Authorization: Bearer {}' });
  const secret = h('input', {
    name: 'provider-key',
    type: 'password',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const submit = h('button', { type: 'submit' }, 'Seal and store');
  const form = h(
    'form',
    { class: 'grid' },
    field('Name', name, 'Letters, digits and _, e.g. OPENAI_KEY.'),
    field('Provider origin (pinned upstream)', upstream, 'Requests with a token go to this origin only.'),
    field(
      'Injected header (optional)',
      inject,
      "Default 'Authorization: Bearer {}'; {} is where the key goes.",
    ),
    field('Provider API key', secret, 'Sealed in this browser; egg never receives it in plaintext.'),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      submit.disabled = true;
      const bytes = new TextEncoder().encode(secret.value);
      secret.value = '';
      try {
        const key = await getJson<SealingKey>('/api/sealing-key');
        const sealed = await sealInBrowser(namespace, name.value, bytes, key);
        await postJson('/api/provider-keys', {
          name: name.value,
          upstream: upstream.value,
          ...(inject.value.trim() === '' ? {} : { inject: inject.value }),
          sealed,
        });
        say(`Stored ${name.value}, sealed in this browser. Mint tokens for it on the Tokens page.`);
        form.reset();
        await reload();
      } catch (error) {
        say(`Could not store the key: ${describe(error)}`, 'error');
      } finally {
        bytes.fill(0);
        submit.disabled = false;
      }
    })();
  });
  return h(
    'section',
    { 'aria-labelledby': 'seal-title' },
    h('h2', { id: 'seal-title' }, 'Add a provider key'),
    h(
      'p',
      {},
      'The key is encrypted here, in this browser, with a data key made for it alone; that data key is wrapped with the namespace’s sealing public key. Only the sealed form is sent. The first proxy to use the key unseals it.',
    ),
    form,
  );
}
