/**
 * The tokens page: every token of the namespace with its last half hour of use, refreshed
 * every 2 s in place (rows keep their buttons, so focus stays where it was); one-click revoke;
 * the mint form, which shows a new token once; and the kill switch, which asks for the
 * namespace's name typed back.
 */
import type { ConsoleSecret, ConsoleToken } from '../api.js';
import { requestsChart, spendMeter } from './charts.js';
import { describe, getJson, postJson } from './client.js';
import { field, h, put, time } from './dom.js';

/** A token as `/api/tokens` lists it. */
export type Token = ConsoleToken;

type Secret = ConsoleSecret;

const POLL_MS = 2000;

interface Row {
  row: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
  revoke: HTMLButtonElement;
  rotate: HTMLButtonElement;
}

/** The grace choices for a rotation: how long the old token keeps working. */
const GRACES = [
  ['0', 'no grace (stops at once)'],
  ['1m', '1 minute'],
  ['5m', '5 minutes'],
  ['15m', '15 minutes'],
  ['1h', '1 hour'],
] as const;

export function tokensPage(namespace: string, usageKept: boolean): { element: HTMLElement; stop(): void } {
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const updated = h('p', { class: 'muted' });
  const body = h('tbody');
  const empty = h('p', { class: 'muted', hidden: true }, 'No tokens yet. Mint one below.');
  const rows = new Map<string, Row>();
  const table = h(
    'table',
    { class: 'tokens' },
    h('caption', {}, `Tokens of ${namespace}: usage of the last 30 minutes, refreshed every 2 seconds`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Token', 'Key', 'Status', 'Requests', 'Outcomes', 'Spend', 'Origins and tags', 'Actions'].map(
          (t) => h('th', { scope: 'col' }, t),
        ),
      ),
    ),
    body,
  );

  const say = (text: string, kind: 'ok' | 'error' = 'ok') => {
    status.className = `status ${kind}`;
    status.textContent = text;
  };

  function rowFor(token: Token): Row {
    let row = rows.get(token.id);
    if (row !== undefined) return row;
    const cells = Array.from({ length: 8 }, () => h('td'));
    const revoke = h(
      'button',
      { type: 'button', class: 'danger', 'aria-label': `Revoke token ${token.id}` },
      'Revoke',
    );
    revoke.addEventListener('click', () => void revokeToken(token.id, revoke));
    const rotate = h(
      'button',
      { type: 'button', class: 'secondary', 'aria-label': `Rotate token ${token.id}` },
      'Rotate',
    );
    rotate.addEventListener('click', () => void rotateToken(token.id, rotate));
    put(cells[7]!, h('div', { class: 'row-actions' }, rotate, revoke));
    row = { row: h('tr', { 'data-token': token.id }, ...cells), cells, revoke, rotate };
    rows.set(token.id, row);
    return row;
  }

  function render(tokens: Token[], now: number) {
    const seen = new Set<string>();
    // The server lists oldest first; each new row goes on top, so the newest is first. Rows
    // already shown are not moved: moving a row would take the focus off its button.
    for (const token of tokens) {
      seen.add(token.id);
      const fresh = !rows.has(token.id);
      const { row, cells, revoke, rotate } = rowFor(token);
      if (fresh) body.prepend(row);
      const t = token.usage.totals;
      const ok = Math.max(0, t.requests - t.clientErrors - t.serverErrors);
      put(cells[0]!, h('code', {}, token.id), h('br'), h('small', {}, 'expires '), time(token.expiresAt));
      put(cells[1]!, token.key);
      put(
        cells[2]!,
        h('span', { class: `badge ${token.status}` }, token.status),
        token.revokesAt !== undefined &&
          token.status === 'active' &&
          h('span', { class: 'badge throttled' }, 'stops ', time(token.revokesAt)),
        token.throttle &&
          h(
            'span',
            { class: 'badge throttled' },
            `throttled to ${token.throttle.rps}/s (${token.throttle.rule})`,
          ),
      );
      put(
        cells[3]!,
        requestsChart(token.usage.points, now),
        h('span', { class: 'figure', 'data-field': 'requests' }, String(t.requests)),
      );
      put(
        cells[4]!,
        h(
          'ul',
          { class: 'outcomes' },
          h('li', { class: 'ok' }, `${ok} ok`),
          h('li', { class: 'client' }, `${t.clientErrors} 4xx`),
          h('li', { class: 'server' }, `${t.serverErrors} 5xx`),
          h('li', { 'data-field': 'refused-origin' }, `${t.refusedOrigin} refused origin`),
          t.invalidToken > 0 && h('li', {}, `${t.invalidToken} invalid`),
          t.rateLimited + t.throttled > 0 && h('li', {}, `${t.rateLimited + t.throttled} rate-limited`),
        ),
      );
      put(
        cells[5]!,
        spendMeter(token.spent, token.spend),
        h(
          'span',
          { class: 'figure' },
          // A priced key's tokens spend micro-units: shown in the price's unit (docs/spend.md).
          token.priced
            ? `${token.spentUnits} / ${token.spendUnits} units`
            : `${token.spent} / ${token.spend}`,
        ),
      );
      put(
        cells[6]!,
        h(
          'ul',
          { class: 'plain' },
          ...token.origins.map((o) => h('li', {}, o)),
          token.allowNoOrigin && h('li', {}, '(no Origin: native apps)'),
          token.maxClients !== undefined &&
            h('li', { 'data-field': 'max-clients' }, `at most ${token.maxClients} client addresses a minute`),
          token.clientRps !== undefined &&
            h('li', { 'data-field': 'client-rps' }, `${token.clientRps}/s per address`),
        ),
        h('ul', { class: 'tags' }, ...Object.entries(token.tags).map(([k, v]) => h('li', {}, `${k}=${v}`))),
      );
      revoke.disabled = token.status !== 'active';
      rotate.disabled = token.status !== 'active' || token.revokesAt !== undefined;
    }
    for (const [id, { row }] of rows)
      if (!seen.has(id)) {
        row.remove();
        rows.delete(id);
      }
    empty.hidden = tokens.length > 0;
  }

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const { tokens, now } = await getJson<{ tokens: Token[]; now: string }>('/api/tokens');
      const seconds = Math.floor(Date.parse(now) / 1000);
      render(tokens, seconds);
      updated.textContent = `Updated ${new Date(now).toLocaleTimeString()}.`;
    } catch (error) {
      say(`Could not load the tokens: ${describe(error)}`, 'error');
    } finally {
      busy = false;
    }
  }

  async function revokeToken(id: string, button: HTMLButtonElement) {
    button.disabled = true;
    try {
      await postJson('/api/tokens/revoke', { ids: [id] });
      say(`Revoked ${id}. Every proxy refuses it within a second.`);
    } catch (error) {
      button.disabled = false;
      say(`Could not revoke ${id}: ${describe(error)}`, 'error');
    }
    await refresh();
  }

  const grace = h(
    'select',
    { name: 'grace' },
    ...GRACES.map(([value, label]) => h('option', { value, selected: value === '5m' }, label)),
  );
  const rotated = h('div', { class: 'minted', 'data-rotated': true, hidden: true });

  async function rotateToken(id: string, button: HTMLButtonElement) {
    button.disabled = true;
    try {
      const next = await postJson<{
        token: string;
        id: string;
        expiresAt: string;
        replaces: string;
        stopsAt: string;
      }>('/api/tokens/rotate', { id, grace: grace.value });
      say(
        `Rotated ${id}: ${next.id} replaces it; ${id} stops at ${new Date(next.stopsAt).toLocaleString()}.`,
      );
      showToken(rotated, next);
    } catch (error) {
      button.disabled = false;
      say(`Could not rotate ${id}: ${describe(error)}`, 'error');
    }
    await refresh();
  }

  const timer = setInterval(() => void refresh(), POLL_MS);
  void refresh();

  const element = h(
    'div',
    { class: 'page' },
    h(
      'section',
      { 'aria-labelledby': 'tokens-title' },
      h('h2', { id: 'tokens-title' }, 'Tokens'),
      status,
      rotated,
      field('After a rotation, the old token keeps working for', grace),
      !usageKept &&
        h('p', { class: 'muted' }, 'This backend keeps no usage counts yet: the charts stay empty.'),
      h('div', { class: 'scroll' }, table),
      empty,
      updated,
    ),
    mintSection(say, refresh),
    killSwitchSection(namespace, say, refresh),
  );
  return { element, stop: () => clearInterval(timer) };
}

function mintSection(
  say: (text: string, kind?: 'ok' | 'error') => void,
  refresh: () => Promise<void>,
): HTMLElement {
  const key = h('select', { name: 'key', required: true });
  const origins = h('textarea', { name: 'origins', rows: 2, placeholder: 'https://app.example.com' });
  const allowNoOrigin = h('input', { type: 'checkbox', name: 'allowNoOrigin' });
  const ttl = h('input', { name: 'ttl', value: '1h', required: true, size: 6 });
  const rps = h('input', { name: 'rps', type: 'number', min: 1, value: 5, required: true });
  const burst = h('input', { name: 'burst', type: 'number', min: 1 });
  const spend = h('input', { name: 'spend', type: 'number', min: 1, value: 1000, required: true });
  const cost = h('input', { name: 'cost', type: 'number', min: 1, value: 1 });
  const maxClients = h('input', { name: 'maxClients', type: 'number', min: 1, max: 1000 });
  const clientRps = h('input', { name: 'clientRps', type: 'number', min: 1 });
  const tags = h('input', { name: 'tags', placeholder: 'app=web release=42' });
  const result = h('div', { class: 'minted', hidden: true });
  const submit = h('button', { type: 'submit' }, 'Mint token');
  const form = h(
    'form',
    { class: 'grid', 'aria-describedby': 'mint-help' },
    field('Provider key', key, 'Only keys stored with a pinned upstream can have tokens.'),
    field(
      'Allowed origins (one a line)',
      origins,
      'The web apps that may use the token, e.g. https://app.example.com.',
    ),
    h('label', { class: 'check' }, allowNoOrigin, ' Also allow clients that send no Origin (native apps)'),
    field('Lifetime', ttl, '90s, 15m, 1h; at most 24h.'),
    field('Requests per second', rps),
    field('Burst (optional)', burst),
    field('Spend cap (cost units; micro-units for a priced key)', spend),
    field('Cost of one request', cost),
    field(
      'Client addresses (optional)',
      maxClients,
      'Distinct addresses a minute, across every proxy; a new one past it is refused and alerts.',
    ),
    field('Requests per second per address (optional)', clientRps),
    field('Tags (key=value, space separated)', tags),
    h('div', { class: 'actions' }, submit),
  );

  void getJson<{ secrets: Secret[] }>('/api/secrets').then(
    ({ secrets }) => {
      const usable = secrets.filter((s) => s.upstream !== undefined);
      put(key, ...usable.map((s) => h('option', { value: s.name }, `${s.name} (${s.upstream})`)));
      if (usable.length === 0) put(key, h('option', { value: '' }, 'No provider key with an upstream yet'));
    },
    (error: unknown) => say(`Could not load the provider keys: ${describe(error)}`, 'error'),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      submit.disabled = true;
      const number = (input: HTMLInputElement) =>
        input.value.trim() === '' ? undefined : Number(input.value);
      try {
        const minted = await postJson<{ token: string; id: string; expiresAt: string }>('/api/tokens', {
          key: key.value,
          origins: origins.value.split(/\s+/),
          allowNoOrigin: allowNoOrigin.checked,
          ttl: ttl.value,
          rps: number(rps),
          burst: number(burst),
          spend: number(spend),
          cost: number(cost),
          maxClients: number(maxClients),
          clientRps: number(clientRps),
          tags: tags.value.split(/[\s,]+/),
        });
        showToken(result, minted);
        say(`Minted ${minted.id}.`);
        await refresh();
      } catch (error) {
        say(`Could not mint: ${describe(error)}`, 'error');
      } finally {
        submit.disabled = false;
      }
    })();
  });
  return h(
    'section',
    { 'aria-labelledby': 'mint-title' },
    h('h2', { id: 'mint-title' }, 'Mint a token'),
    h(
      'p',
      { id: 'mint-help', class: 'muted' },
      'A token works only through egg proxy, from the origins given, within its caps, until it expires or is revoked.',
    ),
    form,
    result,
  );
}

function showToken(box: HTMLElement, minted: { token: string; id: string; expiresAt: string }) {
  const value = h('input', {
    readonly: true,
    value: minted.token,
    'aria-label': 'The new token',
    class: 'token',
    'data-token-value': true,
  });
  const copy = h('button', { type: 'button' }, 'Copy');
  const done = h('button', { type: 'button', class: 'secondary' }, 'Done, hide it');
  copy.addEventListener('click', () => {
    void navigator.clipboard.writeText(minted.token).then(() => (copy.textContent = 'Copied'));
  });
  done.addEventListener('click', () => {
    put(box);
    box.hidden = true;
  });
  put(
    box,
    h('h3', {}, `Token ${minted.id}`),
    h(
      'p',
      {},
      'Copy it now: egg shows a token once and never stores it. Valid until ',
      time(minted.expiresAt),
      '.',
    ),
    value,
    h('div', { class: 'actions' }, copy, done),
  );
  box.hidden = false;
  value.focus();
  value.select();
}

function killSwitchSection(
  namespace: string,
  say: (text: string, kind?: 'ok' | 'error') => void,
  refresh: () => Promise<void>,
): HTMLElement {
  const confirm = h('input', { name: 'confirm', autocomplete: 'off', spellcheck: 'false' });
  const button = h('button', { type: 'submit', class: 'danger', disabled: true }, 'Void every token');
  confirm.addEventListener('input', () => (button.disabled = confirm.value !== namespace));
  const form = h(
    'form',
    {},
    field(`Type the namespace’s name, ${namespace}, to confirm`, confirm),
    h('div', { class: 'actions' }, button),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      button.disabled = true;
      try {
        const { notBefore } = await postJson<{ notBefore: string }>('/api/killswitch', {
          confirm: confirm.value,
        });
        say(
          `Kill switch: every token of ${namespace} issued before ${new Date(notBefore).toLocaleString()} is void.`,
        );
        confirm.value = '';
        await refresh();
      } catch (error) {
        say(`Kill switch failed: ${describe(error)}`, 'error');
        button.disabled = confirm.value !== namespace;
      }
    })();
  });
  return h(
    'section',
    { 'aria-labelledby': 'kill-title', class: 'kill' },
    h('h2', { id: 'kill-title' }, 'Kill switch'),
    h(
      'p',
      {},
      'Voids every token of this namespace issued until now; every running proxy refuses them within a second. Tokens minted afterwards work.',
    ),
    form,
  );
}
