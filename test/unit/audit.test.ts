/**
 * The hash-chained audit trail: `verifyChain` must catch a record removed from the middle,
 * an altered record, reordered records and a forged chain start.
 */
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/stores/store.js';
import { chainRecord, GENESIS, hashRecord, verifyChain } from '../../src/vault/audit.js';

function trail(length: number, actor = 'user:alice'): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (let i = 0; i < length; i++) {
    records.push(
      chainRecord(
        'acme/web',
        records.at(-1),
        { action: i % 2 === 0 ? 'set' : 'read', targets: [`S${i}`], actor, outcome: 'ok' },
        new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
      ),
    );
  }
  return records;
}

describe('chainRecord', () => {
  it('starts at seq 1 from the genesis hash and links each record to the one before', () => {
    const [first, second] = trail(2);
    expect(first).toMatchObject({ seq: 1, prev: GENESIS, time: '2025-01-01T00:00:00.000Z', targets: ['S0'] });
    expect(second).toMatchObject({ seq: 2, prev: first?.hash });
    const { hash, ...body } = first as AuditRecord;
    expect(hash).toBe(hashRecord(body));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its head', () => {
    const records = trail(5);
    expect(verifyChain(records)).toEqual({ ok: true, records: 5, head: records[4]?.hash });
    expect(verifyChain([])).toEqual({ ok: true, records: 0, head: GENESIS });
  });

  const alter = (records: AuditRecord[], i: number, change: Partial<AuditRecord>) =>
    records.map((r, j) => (j === i ? { ...r, ...change } : r));

  it.each<[string, (records: AuditRecord[]) => AuditRecord[], { seq: number; reason: string }]>([
    [
      'a removed middle record',
      (r) => [...r.slice(0, 2), ...r.slice(3)],
      { seq: 3, reason: 'record 3 is missing (found 4)' },
    ],
    ['a removed first record', (r) => r.slice(1), { seq: 1, reason: 'record 1 is missing (found 2)' }],
    ['an altered action', (r) => alter(r, 2, { action: 'list' }), { seq: 3, reason: 'record 3 was altered' }],
    [
      'an altered actor',
      (r) => alter(r, 1, { actor: 'user:mallory' }),
      { seq: 2, reason: 'record 2 was altered' },
    ],
    [
      'an altered outcome',
      (r) => alter(r, 4, { outcome: 'denied' }),
      { seq: 5, reason: 'record 5 was altered' },
    ],
    [
      'altered targets',
      (r) => alter(r, 0, { targets: ['OTHER'] }),
      { seq: 1, reason: 'record 1 was altered' },
    ],
    [
      'an altered time',
      (r) => alter(r, 3, { time: '2030-01-01T00:00:00.000Z' }),
      { seq: 4, reason: 'record 4 was altered' },
    ],
    [
      'a record moved from another namespace',
      (r) => alter(r, 2, { namespace: 'acme/api' }),
      { seq: 3, reason: 'record 3 was altered' },
    ],
    [
      'an altered record with a recomputed hash',
      (r) => {
        const { hash: _hash, ...body } = { ...(r[2] as AuditRecord), outcome: 'denied' };
        return alter(r, 2, { outcome: 'denied', hash: hashRecord(body) });
      },
      { seq: 4, reason: 'record 4 does not follow record 3' },
    ],
    [
      'two records swapped',
      (r) => [r[0], r[2], r[1], r[3], r[4]] as AuditRecord[],
      { seq: 2, reason: 'record 2 is missing (found 3)' },
    ],
    [
      'two records swapped with their seqs renumbered',
      (r) =>
        [
          r[0],
          { ...(r[2] as AuditRecord), seq: 2 },
          { ...(r[1] as AuditRecord), seq: 3 },
          r[3],
          r[4],
        ] as AuditRecord[],
      { seq: 2, reason: 'record 2 does not follow record 1' },
    ],
    [
      'a forged chain start',
      (r) => alter(r, 0, { prev: 'f'.repeat(64) }),
      { seq: 1, reason: 'record 1 does not follow record 0' },
    ],
    [
      'a valid record from another chain spliced in',
      (r) => [...r.slice(0, 2), trail(5, 'user:bob')[2] as AuditRecord, ...r.slice(3)],
      { seq: 3, reason: 'record 3 does not follow record 2' },
    ],
  ])('detects %s', (_attack, tamper, where) => {
    expect(verifyChain(tamper(trail(5)))).toEqual({ ok: false, records: expect.any(Number), ...where });
  });
});
