/**
 * The audit page: the trail's verification first (broken, or anchored through a checkpoint
 * with the unanchored tail counted plainly, or not anchored at all), then the records with
 * filters (actor, secret, action, time) and a download of what the filters select, as JSON
 * lines. Records after the newest checkpoint are marked as unanchored.
 */
import type { AuditRecord } from '../../stores/store.js';
import type { TrailVerdict as Verdict } from '../../vault/anchor.js';
import { describe, getJson } from './client.js';
import { field, h, put, time } from './dom.js';

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** The verification in words; the tail nothing anchors is said in so many words. */
function verdictView(namespace: string, verdict: Verdict): HTMLElement {
  if (!verdict.ok)
    return h(
      'div',
      { class: 'verdict broken', 'data-verdict': 'broken' },
      h('h3', {}, 'The audit trail is broken'),
      h('p', {}, `At record ${verdict.seq}: ${verdict.reason}.`),
    );
  if (verdict.anchor === null)
    return h(
      'div',
      { class: 'verdict unanchored', 'data-verdict': 'unanchored' },
      h('h3', {}, 'No checkpoint: nothing anchored'),
      h(
        'p',
        {},
        `${plural(verdict.records, 'record')} link up to head ${verdict.head.slice(0, 16)}…, but a trail cut at its end or recomputed from scratch would look the same. `,
        'Anchor it with egg audit checkpoint or egg rotate.',
      ),
    );
  return h(
    'div',
    { class: `verdict ${verdict.unanchored > 0 ? 'tail' : 'ok'}`, 'data-verdict': 'ok' },
    h('h3', {}, `Verified: ${plural(verdict.records, 'record')} of ${namespace}`),
    h(
      'p',
      {},
      `Anchored through record ${verdict.anchor.seq} by the checkpoint signed `,
      time(verdict.anchor.time),
      '.',
    ),
    h(
      'p',
      { class: verdict.unanchored > 0 ? 'warn' : '', 'data-unanchored': verdict.unanchored },
      verdict.unanchored === 0
        ? 'No record is unanchored.'
        : `${plural(verdict.unanchored, 'record')} after it ${verdict.unanchored === 1 ? 'is' : 'are'} unanchored: nothing but the chain vouches for ${verdict.unanchored === 1 ? 'it' : 'them'}, so records removed from the end of that part would not show.`,
    ),
  );
}

export function auditPage(namespace: string): HTMLElement {
  const verdictBox = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Verifying…'));
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const inputs = {
    actor: h('input', { name: 'actor', placeholder: 'user:alice' }),
    secret: h('input', { name: 'secret', placeholder: 'OPENAI_KEY' }),
    action: h('input', { name: 'action', placeholder: 'token.revoke' }),
    since: h('input', { name: 'since', type: 'datetime-local', step: 1 }),
    until: h('input', { name: 'until', type: 'datetime-local', step: 1 }),
  };
  const exportLink = h(
    'a',
    { class: 'button', href: '/api/audit/export', download: true },
    'Export as JSON lines',
  );
  const body = h('tbody');
  let anchoredThrough = Number.POSITIVE_INFINITY;

  const query = () => {
    const params = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs)) {
      const value = input.value.trim();
      if (value === '') continue;
      // datetime-local is the reader's local time; the server compares ISO instants.
      params.set(name, input.type === 'datetime-local' ? new Date(value).toISOString() : value);
    }
    return params.toString();
  };

  async function load() {
    const q = query();
    exportLink.href = `/api/audit/export${q ? `?${q}` : ''}`;
    try {
      const { records } = await getJson<{ records: AuditRecord[] }>(`/api/audit${q ? `?${q}` : ''}`);
      put(
        body,
        ...records
          .slice()
          .reverse()
          .map((r) =>
            h(
              'tr',
              { class: r.seq > anchoredThrough ? 'unanchored' : '' },
              h('td', {}, String(r.seq)),
              h('td', {}, time(r.time)),
              h('td', {}, r.actor),
              h('td', {}, r.action),
              h('td', {}, r.outcome),
              h('td', {}, r.targets.join(', ')),
              h(
                'td',
                {},
                r.seq > anchoredThrough ? h('span', { class: 'badge tail' }, 'unanchored') : 'anchored',
              ),
            ),
          ),
      );
      status.className = 'status ok';
      status.textContent = `${plural(records.length, 'record')} shown, newest first.`;
    } catch (error) {
      status.className = 'status error';
      status.textContent = `Could not load the trail: ${describe(error)}`;
    }
  }

  void getJson<Verdict>('/api/audit/verify').then(
    (verdict) => {
      put(verdictBox, verdictView(namespace, verdict));
      anchoredThrough =
        verdict.ok && verdict.anchor !== null
          ? verdict.anchor.seq
          : verdict.ok
            ? 0
            : Number.POSITIVE_INFINITY;
      void load();
    },
    (error: unknown) => {
      put(verdictBox, h('p', { class: 'status error' }, `Could not verify the trail: ${describe(error)}`));
      void load();
    },
  );

  const form = h(
    'form',
    { class: 'grid filters', role: 'search' },
    field('Actor contains', inputs.actor),
    field('Secret or token id', inputs.secret),
    field('Action contains', inputs.action),
    field('From', inputs.since),
    field('Until', inputs.until),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Filter'),
      h('button', { type: 'reset', class: 'secondary' }, 'Clear'),
      exportLink,
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  form.addEventListener('reset', () => setTimeout(() => void load(), 0));

  return h(
    'div',
    { class: 'page' },
    h(
      'section',
      { 'aria-labelledby': 'verify-title' },
      h('h2', { id: 'verify-title' }, 'Verification'),
      verdictBox,
    ),
    h(
      'section',
      { 'aria-labelledby': 'trail-title' },
      h('h2', { id: 'trail-title' }, 'Audit trail'),
      form,
      status,
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: 'audit' },
          h('caption', {}, `Who did what in ${namespace}, and when (names and ids, never values)`),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['#', 'Time', 'Actor', 'Action', 'Outcome', 'Targets', 'Anchor'].map((t) =>
                h('th', { scope: 'col' }, t),
              ),
            ),
          ),
          body,
        ),
      ),
    ),
  );
}
