/**
 * Audit checkpoints (issue 9, item 14): the chain alone passes a trail whose newest records
 * were deleted, or one recomputed from scratch. `verifyAnchors` must refuse both at a
 * checkpoint signed by the anchor key, refuse checkpoints that key did not sign, and count
 * the records after the newest checkpoint as unanchored.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditCheckpoint, AuditRecord } from '../../src/stores/store.js';
import { keyIdOf, LocalSigner } from '../../src/tokens/signer.js';
import {
  type AnchorKey,
  CHECKPOINT_CONTEXT,
  type CheckpointSigner,
  checkpointPayload,
  signCheckpoint,
  verifyAnchors,
} from '../../src/vault/anchor.js';
import { chainRecord } from '../../src/vault/audit.js';

const NS = 'acme/web';
const SIGNED_AT = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));

function trail(length: number, actor = 'user:alice', namespace = NS): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (let i = 0; i < length; i++) {
    records.push(
      chainRecord(
        namespace,
        records.at(-1),
        { action: i % 2 === 0 ? 'read' : 'rotate', targets: [`S${i}`], actor, outcome: 'ok' },
        new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
      ),
    );
  }
  return records;
}

function signer(seed = 7): LocalSigner {
  return new LocalSigner(Buffer.alloc(32, seed));
}

async function anchorKeyOf(s: CheckpointSigner): Promise<AnchorKey> {
  return { kid: await s.kid(), publicKey: await s.publicKey() };
}

async function anchored(records: AuditRecord[], seqs: number[], by: CheckpointSigner = signer()) {
  return Promise.all(seqs.map((seq) => signCheckpoint(records[seq - 1] as AuditRecord, by, SIGNED_AT)));
}

describe('signCheckpoint', () => {
  it('signs the namespace, seq, hash, time and key id under its own domain prefix', async () => {
    const s = signer();
    const records = trail(3);
    const checkpoint = await signCheckpoint(records[2] as AuditRecord, s, SIGNED_AT);
    expect(checkpoint).toEqual({
      namespace: NS,
      seq: 3,
      hash: records[2]?.hash,
      time: '2026-01-02T03:04:05.000Z',
      kid: await s.kid(),
      signature: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
    });
    const payload = checkpointPayload(checkpoint);
    expect(payload.toString()).toBe(
      `${CHECKPOINT_CONTEXT}${JSON.stringify([NS, 3, records[2]?.hash, '2026-01-02T03:04:05.000Z', await s.kid()])}`,
    );
  });

  it('can never sign what a token verifier would take for a JWS signing input', () => {
    // A JWS signing input is base64url segments joined by "." (RFC 7515 §5.1): the prefix has
    // "/" and a newline, so no checkpoint payload is one, whatever key signs it.
    expect(CHECKPOINT_CONTEXT).toMatch(/[^A-Za-z0-9_.-]/);
    const payload = checkpointPayload({ namespace: NS, seq: 1, hash: 'a'.repeat(64), time: '', kid: '' });
    expect(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(payload.toString())).toBe(false);
  });
});

describe('verifyAnchors', () => {
  it('anchors the trail up to the newest checkpoint and counts the rest as unanchored', async () => {
    const s = signer();
    const records = trail(9);
    const checkpoints = await anchored(records, [3, 7]);
    expect(verifyAnchors(records, checkpoints, await anchorKeyOf(s))).toEqual({
      ok: true,
      records: 9,
      head: records[8]?.hash,
      checkpoints: 2,
      anchor: { seq: 7, hash: records[6]?.hash, time: '2026-01-02T03:04:05.000Z', kid: await s.kid() },
      unanchored: 2,
    });
  });

  it('says plainly that nothing is anchored when there is no checkpoint', () => {
    const records = trail(4);
    expect(verifyAnchors(records, [], undefined)).toEqual({
      ok: true,
      records: 4,
      head: records[3]?.hash,
      checkpoints: 0,
      anchor: null,
      unanchored: 4,
    });
  });

  it('fails when the newest records were deleted below a checkpoint (tail truncation)', async () => {
    const s = signer();
    const records = trail(9);
    const checkpoints = await anchored(records, [3, 7]);
    expect(verifyAnchors(records.slice(0, 5), checkpoints, await anchorKeyOf(s))).toEqual({
      ok: false,
      records: 5,
      seq: 6,
      reason:
        'the trail ends at record 5, but a checkpoint signed 2026-01-02T03:04:05.000Z anchors record 7: records were removed from its end',
    });
    // Every record gone is no better.
    expect(verifyAnchors([], checkpoints, await anchorKeyOf(s))).toMatchObject({ ok: false, seq: 1 });
  });

  it('fails at the checkpoint when the whole chain was recomputed', async () => {
    const s = signer();
    const records = trail(9);
    const checkpoints = await anchored(records, [3, 7]);
    // A consistent new chain: every record rewritten, every hash and link recomputed.
    const rewritten = trail(9, 'user:mallory');
    expect(verifyAnchors(rewritten, checkpoints, await anchorKeyOf(s))).toEqual({
      ok: false,
      records: 9,
      seq: 3,
      reason:
        'it differs from the record the checkpoint signed 2026-01-02T03:04:05.000Z anchors: the chain was rewritten',
    });
    // Rewriting only the tail after the older checkpoint is caught at the newer one.
    const tail = [...records.slice(0, 4)];
    for (let i = 4; i < 9; i++)
      tail.push(
        chainRecord(
          NS,
          tail.at(-1),
          { action: 'list', targets: [], actor: 'user:mallory', outcome: 'ok' },
          new Date(),
        ),
      );
    expect(verifyAnchors(tail, checkpoints, await anchorKeyOf(s))).toMatchObject({ ok: false, seq: 7 });
  });

  it('still finds a break in the chain itself', async () => {
    const s = signer();
    const records = trail(6);
    const checkpoints = await anchored(records, [2]);
    const broken = records.map((r) => (r.seq === 4 ? { ...r, outcome: 'denied' } : r));
    expect(verifyAnchors(broken, checkpoints, await anchorKeyOf(s))).toEqual({
      ok: false,
      records: 6,
      seq: 4,
      reason: 'record 4 was altered',
    });
  });

  it.each<
    [string, (c: AuditCheckpoint, records: AuditRecord[]) => Promise<AuditCheckpoint> | AuditCheckpoint]
  >([
    [
      'signed by another key',
      async (c, records) => signCheckpoint(records[c.seq - 1] as AuditRecord, signer(9), SIGNED_AT),
    ],
    [
      'signed by another key that claims the anchor key id',
      async (c) => {
        const { privateKey } = generateKeyPairSync('ed25519');
        const body = { ...c };
        return { ...c, signature: sign(null, checkpointPayload(body), privateKey).toString('base64url') };
      },
    ],
    ['with a moved seq', (c) => ({ ...c, seq: c.seq - 1 })],
    ['with another hash', (c) => ({ ...c, hash: 'f'.repeat(64) })],
    ['with another time', (c) => ({ ...c, time: '2030-01-01T00:00:00.000Z' })],
    ['with a truncated signature', (c) => ({ ...c, signature: c.signature.slice(0, 40) })],
    ['with no signature', (c) => ({ ...c, signature: '' })],
    [
      // The store names a checkpoint by the partition it was read from.
      'copied from another namespace',
      async (c) => ({
        ...(await signCheckpoint(
          trail(6, 'user:alice', 'acme/api')[c.seq - 1] as AuditRecord,
          signer(),
          SIGNED_AT,
        )),
        namespace: NS,
      }),
    ],
  ])('refuses a checkpoint %s', async (_attack, forge) => {
    const s = signer();
    const records = trail(6);
    const [good] = await anchored(records, [4]);
    const forged = await forge(good as AuditCheckpoint, records);
    const verdict = verifyAnchors(records, [forged], await anchorKeyOf(s));
    expect(verdict).toMatchObject({
      ok: false,
      seq: forged.seq,
      reason: expect.stringMatching(/^its checkpoint is not signed by the anchor key ed25519:[\w-]+ /),
    });
  });

  it('refuses a checkpoint of another namespace, even one signed by the anchor key', async () => {
    const s = signer();
    const other = trail(4, 'user:alice', 'acme/api');
    const [theirs] = await anchored(other, [4], s);
    const records = trail(4);
    expect(verifyAnchors(records, [theirs as AuditCheckpoint], await anchorKeyOf(s))).toMatchObject({
      ok: false,
      seq: 4,
      reason: expect.stringContaining('belongs to namespace acme/api'),
    });
  });

  it('refuses to pass checkpoints it has no key to check', async () => {
    const records = trail(4);
    const checkpoints = await anchored(records, [4]);
    expect(verifyAnchors(records, checkpoints, undefined)).toEqual({
      ok: false,
      records: 4,
      seq: 4,
      reason: 'it has a checkpoint, and no anchor key was given to check it',
    });
  });

  it('checks with the public key alone', async () => {
    const s = signer();
    const records = trail(3);
    const checkpoints = await anchored(records, [3]);
    const publicOnly: KeyObject = createPublicKey(
      (await s.publicKey()).export({ type: 'spki', format: 'pem' }),
    );
    expect(
      verifyAnchors(records, checkpoints, { kid: keyIdOf(publicOnly), publicKey: publicOnly }),
    ).toMatchObject({ ok: true, unanchored: 0 });
  });
});
