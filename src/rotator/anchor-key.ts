/**
 * The anchor key: the Ed25519 key that signs audit checkpoints (src/vault/anchor.ts). It is
 * the rotator's, and no reader's, and it is never the token signing key (every minting role
 * may sign with that one).
 *
 * `local`: a 32-byte seed in `EGG_HOME/anchor-key` (0600), created by the first checkpoint.
 * The readers and the anchor are then the same OS user, so a local anchor stops accidents
 * and tools, not that user (SECURITY.md). `aws`: the KMS key `EGG_ANCHOR_KEY_ID`
 * (`ECC_NIST_EDWARDS25519`); infra/ lets only the rotator's role `Sign` with it and every
 * grant read its public key. Both are opened by the backend (`Backend.anchorSigner`).
 */
import type { Backend } from '../backends/backend.js';
import { EggError } from '../errors.js';
import type { AnchorKey } from '../vault/anchor.js';

/** The key `egg audit verify` checks checkpoints with; asked for only when a trail has some. */
export async function readAnchorKey(backend: Backend): Promise<AnchorKey> {
  const signer = await backend.anchorSigner();
  if (signer === undefined)
    throw new EggError(
      'ERR_INVALID_CONFIG',
      'the audit trail has checkpoints, and no anchor key is set to check them',
      { hint: "set EGG_ANCHOR_KEY_ID to the stack's AnchorKeyArn output" },
    );
  return { kid: await signer.kid(), publicKey: await signer.publicKey() };
}
