/**
 * Token signing keys (DESIGN, Crypto: Ed25519). A `TokenSigner` signs raw bytes and
 * publishes its public key; the key id (`kid`) is derived from the public key, so a
 * verifier can tell at a glance whether a token was signed by the key it trusts.
 *
 * `local`: a 32-byte Ed25519 seed in `EGG_HOME/signing-key` (0600, created on the first
 * mint like the KEK). `aws`: a KMS asymmetric key (kms-signer.ts).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';

export interface TokenSigner {
  readonly kind: 'local' | 'kms';
  /** The key id put in every token header. */
  kid(): Promise<string>;
  /** An Ed25519 signature (RFC 8032, pure EdDSA) over `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** The public key, for verifiers. */
  publicKey(): Promise<KeyObject>;
  close(): void;
}

export const SIGNING_KEY_FILE = 'signing-key';

/** `ed25519:` + the first 16 bytes of SHA-256 over the SubjectPublicKeyInfo DER, base64url. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519:${createHash('sha256').update(der).digest().subarray(0, 16).toString('base64url')}`;
}

/** PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410 §7): this fixed prefix, then the 32 bytes. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private key from its 32-byte seed. The caller wipes `seed`. */
export function ed25519FromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new TypeError('an Ed25519 seed is 32 bytes');
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

/** Signs with a local Ed25519 key held as a KeyObject (the seed buffer is wiped at once). */
export class LocalSigner implements TokenSigner {
  readonly kind = 'local' as const;
  readonly #private: KeyObject;
  readonly #public: KeyObject;
  readonly #kid: string;

  constructor(seed: Buffer) {
    try {
      this.#private = ed25519FromSeed(seed);
    } finally {
      seed.fill(0);
    }
    this.#public = createPublicKey(this.#private);
    this.#kid = keyIdOf(this.#public);
  }

  async kid(): Promise<string> {
    return this.#kid;
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    return sign(null, data, this.#private);
  }

  async publicKey(): Promise<KeyObject> {
    return this.#public;
  }

  close(): void {}
}
