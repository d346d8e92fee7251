/**
 * AES-256 Key Wrap (RFC 3394) through OpenSSL's `id-aes256-wrap`, with the RFC's default
 * IV (section 2.2.3.1). Unwrapping checks that IV, so a wrong KEK or a tampered wrapped
 * key fails here rather than yielding a wrong DEK.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DecryptionFailed } from '../errors.js';

const DEFAULT_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

export function wrapKey(kek: Buffer, key: Buffer): Buffer {
  if (kek.length !== 32) throw new TypeError('AES-256-KW needs a 32-byte KEK');
  const cipher = createCipheriv('id-aes256-wrap', kek, DEFAULT_IV);
  return Buffer.concat([cipher.update(key), cipher.final()]);
}

export function unwrapKey(kek: Buffer, wrapped: Buffer, what: string): Buffer {
  if (kek.length !== 32) throw new TypeError('AES-256-KW needs a 32-byte KEK');
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) throw new DecryptionFailed(what);
  try {
    const decipher = createDecipheriv('id-aes256-wrap', kek, DEFAULT_IV);
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch (cause) {
    throw new DecryptionFailed(what, cause);
  }
}
