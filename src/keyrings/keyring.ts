/**
 * The keyring port: where data keys come from and how they are wrapped. Adapters:
 * `local` (a KEK file, AES-256-KW), `kms` (a KMS data key per secret) and
 * `kms-hierarchical` (a per-namespace KEK that is itself a KMS data key).
 */

import type { KeyringKind } from '../config.js';

export { KEYRING_KINDS, type KeyringKind } from '../config.js';

/** What a data key is bound to; for KMS this is the encryption context. */
export interface KeyContext {
  namespace: string;
  secret: string;
}

/** A fresh data key: `plaintext` must be wiped by the caller once used. */
export interface DataKey {
  plaintext: Buffer;
  wrapped: Buffer;
  /** Identifies the wrapping key, stored beside the item. */
  keyId: string;
}

export interface Keyring {
  readonly kind: KeyringKind;
  /** A new, never-before-used 256-bit data key and its wrapped form. */
  generate(context: KeyContext): Promise<DataKey>;
  /** The plaintext data key, or `DecryptionFailed`. The caller wipes it. */
  unwrap(wrapped: Buffer, keyId: string, context: KeyContext): Promise<Buffer>;
  /** Optional: fetch whatever the namespace needs ahead of the first key (overlapped with store reads). */
  warm?(namespace: string): Promise<void>;
  /** Wipe cached key material. */
  close(): void;
}
