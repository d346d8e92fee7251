/**
 * The `local` keyring: a 256-bit KEK in a 0600 file under `EGG_HOME`; data keys come
 * from the OS CSPRNG and are wrapped with AES-256-KW. Its key check value, stored in
 * vault.db, binds the vault to its KEK (docs/local-vault.md).
 */
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { KEY_BYTES } from '../crypto/aead.js';
import { unwrapKey, wrapKey } from '../crypto/key-wrap.js';
import { wipe } from '../crypto/wipe.js';
import { DecryptionFailed } from '../errors.js';
import type { DataKey, KeyContext, Keyring } from './keyring.js';

/** HKDF's `info`: names what the output is for, so it can never equal any other use of the KEK. */
const KEY_CHECK_INFO = 'egg-carton/v1/key-check-value';

/**
 * The key check value of a local KEK: HKDF-SHA256 (RFC 5869) with the KEK as input keying
 * material, no salt and the info "egg-carton/v1/key-check-value", 32 bytes. It proves which
 * KEK a vault belongs to without revealing it: HKDF is a PRF, so the value says nothing
 * about a 256-bit random key, and the KEK is only ever HMAC's message here, never a key
 * for another primitive beside AES-KW. Pinned by a known answer in test/unit/key-check.test.ts.
 */
export function keyCheckValue(kek: Buffer): Buffer {
  if (kek.length !== KEY_BYTES) throw new TypeError('the local KEK must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), KEY_CHECK_INFO, 32));
}

export class LocalKeyring implements Keyring {
  readonly kind = 'local' as const;
  readonly #kek: Buffer;
  readonly #keyId: string;

  /** Takes ownership of `kek` and wipes it on `close()`. */
  constructor(kek: Buffer) {
    if (kek.length !== KEY_BYTES) throw new TypeError('the local KEK must be 32 bytes');
    this.#kek = kek;
    // A fingerprint, not the key: lets us say "wrong key" apart from "corrupt item" in logs.
    this.#keyId = `local:${createHash('sha256').update('egg/kek-id').update(kek).digest('hex').slice(0, 16)}`;
  }

  get keyId(): string {
    return this.#keyId;
  }

  /** This KEK's key check value (see `keyCheckValue`). */
  keyCheckValue(): Buffer {
    return keyCheckValue(this.#kek);
  }

  async generate(_context: KeyContext): Promise<DataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    return { plaintext, wrapped: wrapKey(this.#kek, plaintext), keyId: this.#keyId };
  }

  async unwrap(wrapped: Buffer, keyId: string, context: KeyContext): Promise<Buffer> {
    const what = `secret ${context.secret}`;
    if (keyId !== this.#keyId) throw new DecryptionFailed(what);
    const key = unwrapKey(this.#kek, wrapped, what);
    if (key.length !== KEY_BYTES) {
      wipe(key);
      throw new DecryptionFailed(what);
    }
    return key;
  }

  close(): void {
    wipe(this.#kek);
  }
}
