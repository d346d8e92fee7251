/**
 * Audit checkpoints (issue 9, item 14). The hash chain shows a record removed or altered in
 * the middle of a trail, but not one deleted from its end, nor a chain recomputed from
 * scratch: whoever can write the records can make a consistent new chain. A checkpoint is
 * an Ed25519 signature, by a key the readers do not hold (the rotator's anchor key), over
 * one record's seq and hash; it is stored apart from the records, where readers cannot
 * write. A trail shorter than a checkpoint, or different at a checkpointed seq, fails;
 * the records after the newest checkpoint are reported as unanchored.
 *
 * The signed bytes start with a fixed prefix holding "/" and a newline, which never occur in
 * a JWS signing input (base64url segments joined by ".", RFC 7515 §5.1), so a checkpoint
 * signature can never pass for a token's, nor the reverse, even under one key. The anchor
 * key is a separate key all the same: token keys are usable by every minting role.
 */
import { type KeyObject, verify } from 'node:crypto';
import type { AuditCheckpoint, AuditRecord } from '../stores/store.js';
import { type AuditVerdict, verifyChain } from './audit.js';

/** What signs checkpoints: an Ed25519 key (the token signer classes fit; give them the anchor key). */
export interface CheckpointSigner {
  kid(): Promise<string>;
  sign(data: Uint8Array): Promise<Uint8Array>;
  publicKey(): Promise<KeyObject>;
}

/** The key checkpoints are checked with, and its id. */
export interface AnchorKey {
  kid: string;
  publicKey: KeyObject;
}

/** The newest checkpoint a verified trail holds. */
export interface Anchor {
  seq: number;
  hash: string;
  time: string;
  kid: string;
}

export type TrailVerdict =
  | {
      ok: true;
      records: number;
      head: string;
      checkpoints: number;
      /** The newest checkpoint, or null when the trail has none (nothing is anchored). */
      anchor: Anchor | null;
      /** Records after the newest checkpoint: nothing but the chain vouches for them. */
      unanchored: number;
    }
  | Extract<AuditVerdict, { ok: false }>;

/** The domain-separation prefix of every checkpoint signature. */
export const CHECKPOINT_CONTEXT = 'egg/audit-checkpoint/v1\n';

/** The bytes a checkpoint's signature covers. */
export function checkpointPayload(checkpoint: Omit<AuditCheckpoint, 'signature'>): Buffer {
  const { namespace, seq, hash, time, kid } = checkpoint;
  return Buffer.from(`${CHECKPOINT_CONTEXT}${JSON.stringify([namespace, seq, hash, time, kid])}`, 'utf8');
}

/** A checkpoint of `record`, signed by `signer` at `time`. */
export async function signCheckpoint(
  record: AuditRecord,
  signer: CheckpointSigner,
  time: Date,
): Promise<AuditCheckpoint> {
  const body = {
    namespace: record.namespace,
    seq: record.seq,
    hash: record.hash,
    time: time.toISOString(),
    kid: await signer.kid(),
  };
  const signature = Buffer.from(await signer.sign(checkpointPayload(body))).toString('base64url');
  return { ...body, signature };
}

/** Whether `checkpoint` carries a valid signature by `key` over exactly its fields. */
export function isSignedBy(checkpoint: AuditCheckpoint, key: AnchorKey): boolean {
  const signature = Buffer.from(checkpoint.signature, 'base64url');
  if (signature.length !== 64 || signature.toString('base64url') !== checkpoint.signature) return false;
  try {
    return verify(null, checkpointPayload(checkpoint), key.publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * Check a namespace's whole trail against its checkpoints: each checkpoint belongs to the
 * namespace and is signed by `key`; the chain links from the first record; no checkpoint
 * anchors a record past the trail's end (tail truncation) or a record other than the one
 * found at its seq (a recomputed chain). With checkpoints and no key, it fails: a
 * checkpoint that cannot be checked vouches for nothing.
 */
export function verifyAnchors(
  records: readonly AuditRecord[],
  checkpoints: readonly AuditCheckpoint[],
  key: AnchorKey | undefined,
): TrailVerdict {
  const fail = (seq: number, reason: string): TrailVerdict => ({
    ok: false,
    records: records.length,
    seq,
    reason,
  });
  const namespace = records[0]?.namespace;
  const ordered = [...checkpoints].sort((a, b) => a.seq - b.seq);
  for (const checkpoint of ordered) {
    if (namespace !== undefined && checkpoint.namespace !== namespace)
      return fail(
        checkpoint.seq,
        `its checkpoint belongs to namespace ${checkpoint.namespace}: it was copied from another trail`,
      );
    if (key === undefined)
      return fail(checkpoint.seq, 'it has a checkpoint, and no anchor key was given to check it');
    if (!isSignedBy(checkpoint, key))
      return fail(
        checkpoint.seq,
        `its checkpoint is not signed by the anchor key ${key.kid} (it names ${checkpoint.kid}): it was forged, or the anchor key was replaced`,
      );
  }
  const chain = verifyChain(records);
  if (!chain.ok) return chain;
  let newest: AuditCheckpoint | undefined;
  for (const checkpoint of ordered) {
    const record = records[checkpoint.seq - 1];
    if (record === undefined)
      return fail(
        records.length + 1,
        `the trail ends at record ${records.length}, but a checkpoint signed ${checkpoint.time} anchors record ${checkpoint.seq}: records were removed from its end`,
      );
    if (record.hash !== checkpoint.hash)
      return fail(
        checkpoint.seq,
        `it differs from the record the checkpoint signed ${checkpoint.time} anchors: the chain was rewritten`,
      );
    newest = checkpoint;
  }
  return {
    ok: true,
    records: records.length,
    head: chain.head,
    checkpoints: checkpoints.length,
    anchor:
      newest === undefined
        ? null
        : { seq: newest.seq, hash: newest.hash, time: newest.time, kid: newest.kid },
    unanchored: records.length - (newest?.seq ?? 0),
  };
}
