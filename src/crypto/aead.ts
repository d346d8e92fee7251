/**
 * AES-256-GCM for secret values, with the AAD that binds a ciphertext to its item
 * (DESIGN, Crypto): namespace, name, rev and gen, and a provider key's upstream, injection
 * template and price. A ciphertext copied to another item, replayed at another revision, or
 * left under rewritten proxy metadata, fails to decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptionFailed } from '../errors.js';

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

export interface Sealed {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** The additional authenticated data for a secret item. */
export interface ItemBinding {
  namespace: string;
  name: string;
  rev: number;
  gen: number;
  /**
   * A provider key's proxy metadata (docs/tokens.md, "Provider keys"): where the proxy sends
   * it, how, and what its tokens spend. Bound too, so whoever can write the table but not
   * unwrap its data keys cannot point a key at their own host, or make it cheaper.
   */
  upstream?: string;
  inject?: string;
  price?: string;
}

/**
 * Canonical AAD bytes: a versioned, length-unambiguous encoding (JSON array). An item with no
 * proxy metadata keeps `egg/secret/v1`; a provider key is `egg/secret/v2`, which adds its
 * upstream, injection template and price table (`null` for each one absent). Stripping the
 * metadata from a v2 item, or adding some to a v1 item, changes the AAD: it fails to decrypt.
 */
export function itemAad(binding: ItemBinding): Buffer {
  const { namespace, name, rev, gen, upstream, inject, price } = binding;
  if (upstream === undefined && inject === undefined && price === undefined)
    return Buffer.from(JSON.stringify(['egg/secret/v1', namespace, name, rev, gen]));
  return Buffer.from(
    JSON.stringify([
      'egg/secret/v2',
      namespace,
      name,
      rev,
      gen,
      upstream ?? null,
      inject ?? null,
      price ?? null,
    ]),
  );
}

/** Encrypts with a fresh random IV under `aad`. */
export function encrypt(key: Buffer, plaintext: Uint8Array, aad: Buffer): Sealed {
  assertKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/** Decrypts or throws `DecryptionFailed`; never returns unauthenticated bytes. */
export function decrypt(key: Buffer, sealed: Sealed, aad: Buffer, what: string): Buffer {
  assertKey(key);
  if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) throw new DecryptionFailed(what);
  let plaintext: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.tag);
    plaintext = decipher.update(sealed.ciphertext);
    // GCM's final() only checks the tag (it returns no bytes): the plaintext stays in the one
    // Buffer update() made, which the caller wipes; no copy is left behind.
    decipher.final();
    return plaintext;
  } catch (cause) {
    plaintext?.fill(0);
    throw new DecryptionFailed(what, cause);
  }
}

function assertKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new TypeError('AES-256-GCM needs a 32-byte key');
}
