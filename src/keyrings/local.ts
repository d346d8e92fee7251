/**
 * The `local` keyring: a 256-bit KEK in a 0600 file under `EGG_HOME`; data keys come
 * from the OS CSPRNG and are wrapped with AES-256-KW.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KEY_BYTES } from '../crypto/aead.js';
import { unwrapKey, wrapKey } from '../crypto/key-wrap.js';
import { wipe } from '../crypto/wipe.js';
import { DecryptionFailed } from '../errors.js';
import type { DataKey, KeyContext, Keyring } from './keyring.js';

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
