/**
 * The hash-chained audit trail: each record carries the SHA-256 of its own canonical
 * form and the hash of the record before it, so removing or altering a record breaks
 * the chain at that point. Records hold names and ids, never values.
 */
import { createHash } from 'node:crypto';
import type { AuditRecord } from '../stores/store.js';

export const GENESIS = '0'.repeat(64);

export interface AuditEntry {
  action: string;
  targets: string[];
  actor: string;
  outcome: string;
}

/** The canonical bytes a record's hash covers: every field but `hash`, in a fixed order. */
function canonical(record: Omit<AuditRecord, 'hash'>): string {
  return JSON.stringify([
    'egg/audit/v1',
    record.namespace,
    record.seq,
    record.time,
    record.action,
    record.targets,
    record.actor,
    record.outcome,
    record.prev,
  ]);
}

export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonical(record)).digest('hex');
}

/** The record that follows `head` in `namespace`'s chain. */
export function chainRecord(
  namespace: string,
  head: AuditRecord | undefined,
  entry: AuditEntry,
  time: Date,
): AuditRecord {
  const body = {
    namespace,
    seq: head === undefined ? 1 : head.seq + 1,
    time: time.toISOString(),
    action: entry.action,
    targets: [...entry.targets],
    actor: entry.actor,
    outcome: entry.outcome,
    prev: head === undefined ? GENESIS : head.hash,
  };
  return { ...body, hash: hashRecord(body) };
}

export type AuditVerdict =
  { ok: true; records: number; head: string } | { ok: false; records: number; seq: number; reason: string };

/**
 * Walk the chain from the first record: sequence numbers must be contiguous from 1, each
 * `prev` must equal the previous hash, and each hash must match its record. With `from`,
 * walk a segment that continues the record `from.seq` whose hash is `from.hash`. Deleting
 * the newest records or recomputing the whole chain is not detectable from the chain
 * alone: checkpoints (anchor.ts) are.
 */
export function verifyChain(
  records: readonly AuditRecord[],
  from: { seq: number; hash: string } = { seq: 0, hash: GENESIS },
): AuditVerdict {
  let prev = from.hash;
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as AuditRecord;
    const seq = from.seq + i + 1;
    if (record.seq !== seq) {
      return {
        ok: false,
        records: records.length,
        seq,
        reason: `record ${seq} is missing (found ${record.seq})`,
      };
    }
    if (record.prev !== prev) {
      return {
        ok: false,
        records: records.length,
        seq,
        reason: `record ${seq} does not follow record ${seq - 1}`,
      };
    }
    const { hash, ...body } = record;
    if (hashRecord(body) !== hash) {
      return { ok: false, records: records.length, seq, reason: `record ${seq} was altered` };
    }
    prev = hash;
  }
  return { ok: true, records: records.length, head: prev };
}
