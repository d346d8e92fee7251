/**
 * `egg rotate --follow`: the deferred rotator for a vault with no stream to hang a Lambda on
 * (the local backend, or an aws table without the infra/ rotator). It tails the namespace's
 * audit trail and re-encrypts every secret a read record names, within one poll interval.
 *
 * On start it notes the trail's head, then rotates every secret once: whatever was read
 * while no rotator ran is covered, and every read after the head is followed. A pass that
 * fails, or leaves an item unrotated, does not advance the cursor, so its reads are tried
 * again on the next poll (rotating a secret twice costs a key, never correctness).
 *
 * With an anchor key it also anchors the trail (src/vault/anchor.ts): after a pass that saw
 * new records it signs a checkpoint of the head, at most one per `checkpointGapMs`; one held
 * back by the gap is signed on a later poll, or when the follower stops.
 */
import type { AuditCheckpoint } from '../stores/store.js';
import type { CheckpointSigner } from '../vault/anchor.js';
import type { RotationCounts, Vault } from '../vault/vault.js';
import { readsToRotate } from './reads.js';

export interface RotationPass {
  namespace: string;
  /** `startup`: every secret; `reads`: those the read records since the last pass named. */
  reason: 'startup' | 'reads';
  names: string[];
  counts: RotationCounts;
  /** The audit sequence number this pass covered reads up to. */
  throughSeq: number;
}

export interface FollowOptions {
  vault: Vault;
  intervalMs: number;
  signal: AbortSignal;
  onPass?: (pass: RotationPass) => void;
  /** A pass (or a checkpoint) that threw; the follower keeps going and retries. */
  onError?: (error: unknown) => void;
  /** Signs checkpoints of the trail (the anchor key); without it the trail is not anchored. */
  anchor?: CheckpointSigner;
  /** Least time between two checkpoints. Default 1 s. */
  checkpointGapMs?: number;
  onCheckpoint?: (checkpoint: AuditCheckpoint) => void;
  /** Milliseconds since the epoch, for the checkpoint gap. */
  now?: () => number;
}

export const DEFAULT_CHECKPOINT_GAP_MS = 1000;

/** Follow until `signal` aborts; the pass under way finishes first, then a last checkpoint. */
export async function follow(options: FollowOptions): Promise<void> {
  const { vault, signal } = options;
  const namespace = vault.namespace;
  let cursor = (await vault.auditTrail()).at(-1)?.seq ?? 0;
  let startupDone = false;
  // What the newest checkpoint this follower saw anchors, and when it last signed one.
  let anchoredSeq = 0;
  let anchoredAt = Number.NEGATIVE_INFINITY;
  const now = options.now ?? Date.now;
  const gap = options.checkpointGapMs ?? DEFAULT_CHECKPOINT_GAP_MS;
  while (!signal.aborted) {
    try {
      if (!startupDone) {
        const counts = await vault.rotate();
        startupDone = true;
        options.onPass?.({ namespace, reason: 'startup', names: [], counts, throughSeq: cursor });
      } else {
        const records = await vault.auditTrail({ afterSeq: cursor });
        const last = records.at(-1);
        if (last !== undefined) {
          const names = [...(readsToRotate(records).get(namespace) ?? [])].sort();
          if (names.length === 0) cursor = last.seq;
          else {
            const counts = await vault.rotate(names);
            if (counts.failed === 0) cursor = last.seq;
            options.onPass?.({ namespace, reason: 'reads', names, counts, throughSeq: last.seq });
          }
        }
      }
    } catch (error) {
      options.onError?.(error);
    }
    if (options.anchor !== undefined && startupDone && cursor > anchoredSeq && now() - anchoredAt >= gap) {
      try {
        anchoredAt = now();
        const result = await vault.checkpoint(options.anchor);
        anchoredSeq = Math.max(cursor, result?.checkpoint.seq ?? 0);
        if (result?.created) options.onCheckpoint?.(result.checkpoint);
      } catch (error) {
        options.onError?.(error);
      }
    }
    await pause(options.intervalMs, signal);
  }
  // On the way out, anchor whatever the gap held back, so stopping leaves nothing unanchored.
  if (options.anchor !== undefined && startupDone) {
    try {
      const result = await vault.checkpoint(options.anchor);
      if (result?.created) options.onCheckpoint?.(result.checkpoint);
    } catch (error) {
      options.onError?.(error);
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
