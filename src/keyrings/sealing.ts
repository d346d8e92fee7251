/**
 * The sealing-key port (issue 14, item 2; docs/sealed-keys.md): the RSA-3072 key pair whose
 * public half seals provider keys on their owner's side and whose private half unwraps a
 * sealed key's data key at its first use. Adapters: the local key pair in `EGG_HOME`
 * (here) and a KMS asymmetric key (kms-sealing.ts).
 *
 * One sealing key serves every namespace of a vault (locally, the vault's owner reads every
 * namespace anyway; on aws, the deployment's one configured key, as with EGG_KMS_KEY_ID): a
 * sealed blob is bound to its namespace and name by its AAD, not by the key.
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
} from 'node:crypto';
import { join } from 'node:path';
import { SEALING_MODULUS_BITS, type SealingPublicKey, sealingKid } from '../crypto/seal.js';
import { KEY_BYTES } from '../crypto/aead.js';
import { wipe } from '../crypto/wipe.js';
import { DecryptionFailed, EggError } from '../errors.js';
import { createKeyFile, ensureHome } from '../home.js';
import { readOwnFile } from '../own-files.js';

export interface SealingKey {
  /** The public key that seals for this backend, and its kid (locally made on the first ask). */
  publicKey(): Promise<SealingPublicKey>;
  /**
   * The 32-byte data key wrapped in `wrapped` for the sealing key `kid`, or `DecryptionFailed`
   * naming `what` (a kid that is not this key's is refused before any private-key operation).
   * The caller wipes it.
   */
  unwrap(wrapped: Buffer, kid: string, what: string): Promise<Buffer>;
  close(): void;
}

/** The local sealing key's file: its PKCS #8 DER, 0600, beside the KEK. */
export const SEALING_KEY_FILE = 'sealing-key';

/** The largest PKCS #8 DER an RSA-3072 key takes, with room to spare. */
const MAX_KEY_FILE_BYTES = 4096;

/** A 32-byte data key from an RSA-OAEP-SHA-256 plaintext, or `DecryptionFailed`. */
export function dataKeyOf(plaintext: Buffer | undefined, what: string, cause?: unknown): Buffer {
  if (plaintext?.length === KEY_BYTES) return plaintext;
  wipe(plaintext);
  throw new DecryptionFailed(what, cause);
}

/**
 * The sealing key pair in `EGG_HOME/sealing-key`. `publicKey()` makes it on the first ask
 * (as `egg tokens mint` makes the signing key); `unwrap` only reads it, and says so when it
 * is missing.
 */
export class LocalSealingKey implements SealingKey {
  readonly #home: string;
  #key: { private: KeyObject; public: SealingPublicKey } | undefined;

  constructor(home: string) {
    this.#home = home;
  }

  get path(): string {
    return join(this.#home, SEALING_KEY_FILE);
  }

  async publicKey(): Promise<SealingPublicKey> {
    return this.#open(true).public;
  }

  async unwrap(wrapped: Buffer, kid: string, what: string): Promise<Buffer> {
    const key = this.#open(false);
    if (kid !== key.public.kid) throw new DecryptionFailed(what);
    let plaintext: Buffer | undefined;
    try {
      plaintext = privateDecrypt(
        { key: key.private, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        wrapped,
      );
    } catch (cause) {
      throw new DecryptionFailed(what, cause);
    }
    return dataKeyOf(plaintext, what);
  }

  close(): void {
    this.#key = undefined;
  }

  #open(create: boolean): { private: KeyObject; public: SealingPublicKey } {
    if (this.#key !== undefined) return this.#key;
    ensureHome(this.#home, { create });
    const read = () =>
      readOwnFile(this.path, { what: 'the sealing key', maxBytes: MAX_KEY_FILE_BYTES, forbiddenMode: 0o077 });
    let der = read();
    if (der === undefined && create) {
      const made = generateKeyPairSync('rsa', { modulusLength: SEALING_MODULUS_BITS }).privateKey.export({
        type: 'pkcs8',
        format: 'der',
      });
      // Two processes racing agree on one key: the loser reads the winner's (home.ts).
      createKeyFile(this.path, made);
      wipe(made);
      der = read();
    }
    if (der === undefined)
      throw new EggError('ERR_NOT_INITIALIZED', `there is no sealing key at ${this.path}`, {
        hint: 'restore it from your backup of EGG_HOME; without it the keys sealed to it cannot be unsealed, so seal them again',
      });
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch (cause) {
      throw new EggError('ERR_INVALID_CONFIG', `the sealing key ${this.path} is damaged`, { cause });
    } finally {
      wipe(der);
    }
    const publicKey = createPublicKey(privateKey);
    if (
      privateKey.asymmetricKeyType !== 'rsa' ||
      publicKey.asymmetricKeyDetails?.modulusLength !== SEALING_MODULUS_BITS
    )
      throw new EggError(
        'ERR_INVALID_CONFIG',
        `the sealing key ${this.path} is not an RSA-${SEALING_MODULUS_BITS} key`,
      );
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    this.#key = { private: privateKey, public: { kid: sealingKid(spki), spki: spki.toString('base64url') } };
    return this.#key;
  }
}
