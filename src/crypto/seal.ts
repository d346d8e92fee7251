/**
 * The sealed format of a provider key (issue 14, item 2; docs/sealed-keys.md): a key sealed
 * on its owner's side (a browser, a script, `egg secrets seal`) so that egg stores it without
 * ever holding the plaintext at creation time. A fresh AES-256-GCM data key encrypts the
 * value; RSA-OAEP-SHA-256 under the namespace's sealing public key wraps the data key; both
 * keys are discarded. The AAD binds the blob to its namespace and name, so a sealed blob
 * cannot be stored, and unsealed, under another name.
 *
 * `seal` uses WebCrypto (`crypto.subtle`) exactly as a browser does, so the tests seal what
 * the console page seals. Unsealing is the vault's, at first use: the sealing key's holder
 * (src/keyrings/sealing.ts) unwraps the data key, and AES-GCM under `sealAad` decrypts.
 */
import { createHash, webcrypto } from 'node:crypto';
import { EggError } from '../errors.js';
import { MAX_VALUE_BYTES } from '../names.js';
import { IV_BYTES, type Sealed, TAG_BYTES } from './aead.js';

/** The one algorithm of format version 1: RSA-OAEP-SHA-256 key transport, AES-256-GCM content. */
export const SEAL_ALG = 'RSA-OAEP-256+A256GCM';

/**
 * The sealing key's size: RSA-3072, about 128-bit security (NIST SP 800-57 part 1, table 2),
 * the strength of the AES-256-GCM layer's weakest practical bound, and acceptable past 2030,
 * when NIST retires 112-bit RSA-2048 (SP 800-131A rev. 3 draft). KMS offers it as `RSA_3072`.
 * Its cost is paid once per key (generation) and once per sealed item (one private-key
 * operation at first use).
 */
export const SEALING_MODULUS_BITS = 3072;

/** The wrapped data key is one RSA block: exactly the modulus length. */
const WRAPPED_BYTES = SEALING_MODULUS_BITS / 8;

/** A sealed provider key as it travels (JSON): every binary field base64url without padding. */
export interface SealedKey {
  v: 1;
  alg: typeof SEAL_ALG;
  /** The sealing key it was sealed to (`sealingKid`). */
  kid: string;
  /** RSA-OAEP-SHA-256 of the 32-byte AES key. */
  wrappedKey: string;
  /** The 12-byte AES-GCM IV. */
  iv: string;
  /** AES-256-GCM ciphertext with the 16-byte tag appended, as WebCrypto produces it. */
  ciphertext: string;
}

/** A namespace's sealing public key as egg hands it out. */
export interface SealingPublicKey {
  kid: string;
  /** SubjectPublicKeyInfo DER, base64url. */
  spki: string;
}

/** The binary parts of a sealed key, as a stored item holds them (the tag split off). */
export interface SealedParts extends Sealed {
  wrappedKey: Buffer;
}

/** A sealing key's id: `rsa:` and the first 16 bytes of SHA-256 over its SPKI DER, base64url. */
export function sealingKid(spki: Uint8Array): string {
  return `rsa:${createHash('sha256').update(spki).digest().subarray(0, 16).toString('base64url')}`;
}

/** The AAD of a sealed key: UTF-8 of `egg-seal:v1:<namespace>/<name>`. */
export function sealAad(namespace: string, name: string): Buffer {
  return Buffer.from(`egg-seal:v1:${namespace}/${name}`, 'utf8');
}

/**
 * Seal `value` for `namespace`/`name` with the sealing public key, as the console page does.
 * Nothing but the result leaves: the AES key is generated, used and wrapped inside WebCrypto.
 * @example
 * const blob = await seal({ publicKey: await vault.sealingPublicKey(), namespace, name: 'OPENAI_KEY', value });
 */
export async function seal(options: {
  publicKey: SealingPublicKey;
  namespace: string;
  name: string;
  value: Uint8Array;
}): Promise<SealedKey> {
  const { subtle } = webcrypto;
  const rsa = await subtle.importKey(
    'spki',
    Buffer.from(options.publicKey.spki, 'base64url'),
    { name: 'RSA-OAEP', hash: 'SHA-256' },
    false,
    ['wrapKey'],
  );
  const bits = (rsa.algorithm as webcrypto.RsaHashedKeyAlgorithm).modulusLength;
  if (bits !== SEALING_MODULUS_BITS)
    throw new TypeError(`a sealing key is RSA-${SEALING_MODULUS_BITS}, not RSA-${bits}`);
  const aes = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
  const iv = webcrypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: sealAad(options.namespace, options.name), tagLength: 128 },
    aes,
    options.value,
  );
  const wrappedKey = await subtle.wrapKey('raw', aes, rsa, { name: 'RSA-OAEP' });
  return {
    v: 1,
    alg: SEAL_ALG,
    kid: options.publicKey.kid,
    wrappedKey: Buffer.from(wrappedKey).toString('base64url'),
    iv: Buffer.from(iv).toString('base64url'),
    ciphertext: Buffer.from(ciphertext).toString('base64url'),
  };
}

const FIELDS = ['v', 'alg', 'kid', 'wrappedKey', 'iv', 'ciphertext'] as const;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * A sealed key checked for shape, or `ERR_INVALID_VALUE` in one sentence naming the field:
 * exactly the six fields, version 1, the one algorithm, a wrapped key of one RSA-3072 block,
 * a 12-byte IV, and a ciphertext of 1 byte to 64 KiB plus its tag. What only the sealing
 * key can check (the name it was sealed for, its integrity) is checked at first use.
 */
export function parseSealed(input: unknown): SealedKey {
  const refuse = (why: string) =>
    new EggError('ERR_INVALID_VALUE', `the sealed key ${why}; nothing was stored`, {
      hint: 'seal it as docs/sealed-keys.md describes, with the key from `egg secrets seal --public-key`',
    });
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw refuse('is not a JSON object');
  const blob = input as Record<string, unknown>;
  const extra = Object.keys(blob).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (extra.length > 0) throw refuse(`has a field the format does not have (${extra.sort().join(', ')})`);
  if (blob.v !== 1) throw refuse('is not format version 1 ("v": 1)');
  if (blob.alg !== SEAL_ALG) throw refuse(`does not use "alg": "${SEAL_ALG}"`);
  if (typeof blob.kid !== 'string' || blob.kid === '') throw refuse('names no sealing key ("kid")');
  const bytes = (field: 'wrappedKey' | 'iv' | 'ciphertext', min: number, max: number): Buffer => {
    const text = blob[field];
    if (typeof text !== 'string' || !BASE64URL.test(text)) throw refuse(`has no base64url "${field}"`);
    const decoded = Buffer.from(text, 'base64url');
    if (decoded.toString('base64url') !== text) throw refuse(`has no base64url "${field}"`);
    if (decoded.length < min || decoded.length > max)
      throw refuse(
        `has a "${field}" of ${decoded.length} bytes, not ${min === max ? min : `${min} to ${max}`}`,
      );
    return decoded;
  };
  bytes('wrappedKey', WRAPPED_BYTES, WRAPPED_BYTES);
  bytes('iv', IV_BYTES, IV_BYTES);
  bytes('ciphertext', 1 + TAG_BYTES, MAX_VALUE_BYTES + TAG_BYTES);
  return blob as unknown as SealedKey;
}

/** The binary parts of a parsed sealed key, the tag split from the ciphertext as stored items keep it. */
export function sealedParts(blob: SealedKey): SealedParts {
  const ciphertext = Buffer.from(blob.ciphertext, 'base64url');
  return {
    wrappedKey: Buffer.from(blob.wrappedKey, 'base64url'),
    iv: Buffer.from(blob.iv, 'base64url'),
    ciphertext: ciphertext.subarray(0, ciphertext.length - TAG_BYTES),
    tag: ciphertext.subarray(ciphertext.length - TAG_BYTES),
  };
}
