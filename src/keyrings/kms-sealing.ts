/**
 * The sealing key on aws: a KMS asymmetric key (`RSA_3072`, `ENCRYPT_DECRYPT`) named by
 * `EGG_SEALING_KEY_ID`, which infra/ creates. Its public key comes from `GetPublicKey` (once
 * per process); a sealed key's data key is unwrapped by `Decrypt` with
 * `EncryptionAlgorithm: RSAES_OAEP_SHA_256`, naming the configured key rather than trusting
 * the item (as kms.ts does). The private key never leaves KMS.
 *
 * KMS asymmetric decryption takes no encryption context, so IAM cannot confine `Decrypt` on
 * this key to a namespace: infra/grants.ts gives it only to the roles that read provider keys
 * for the proxy, and the blob's AAD binds it to its namespace and name (docs/sealed-keys.md).
 */
import { createPublicKey } from 'node:crypto';
import { DecryptCommand, GetPublicKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { SEALING_MODULUS_BITS, type SealingPublicKey, sealingKid } from '../crypto/seal.js';
import { DecryptionFailed, EggError } from '../errors.js';
import { KmsCalls, type KmsOptions } from './kms.js';
import { dataKeyOf, type SealingKey } from './sealing.js';

/** What KMS calls the one algorithm the sealed format uses. */
const ALGORITHM = 'RSAES_OAEP_SHA_256';

export class KmsSealingKey implements SealingKey {
  readonly #kms: KmsCalls;
  readonly #client: KMSClient;
  #public: Promise<SealingPublicKey> | undefined;

  /** `keyId`: EGG_SEALING_KEY_ID (a key id, ARN or alias). */
  constructor(options: KmsOptions) {
    this.#kms = new KmsCalls(options);
    this.#client = options.client;
  }

  publicKey(): Promise<SealingPublicKey> {
    this.#public ??= this.#fetchPublicKey().catch((error: unknown) => {
      this.#public = undefined;
      throw error;
    });
    return this.#public;
  }

  async unwrap(wrapped: Buffer, kid: string, what: string): Promise<Buffer> {
    if (kid !== (await this.publicKey()).kid) throw new DecryptionFailed(what);
    const command = new DecryptCommand({
      CiphertextBlob: wrapped,
      KeyId: this.#kms.keyId,
      EncryptionAlgorithm: ALGORITHM,
    });
    const output = await this.#kms.send(
      'Decrypt',
      undefined,
      () => this.#client.send(command),
      (error) => new DecryptionFailed(what, error),
    );
    const plaintext = output.Plaintext;
    return dataKeyOf(
      plaintext === undefined
        ? undefined
        : Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength),
      what,
    );
  }

  close(): void {
    this.#kms.close();
  }

  /** GetPublicKey, checked: an RSA-3072 encryption key that allows RSAES_OAEP_SHA_256. */
  async #fetchPublicKey(): Promise<SealingPublicKey> {
    const keyId = this.#kms.keyId;
    const unusable = (why: string) =>
      new EggError('ERR_KMS', `the sealing key ${keyId} ${why}`, {
        hint: `set EGG_SEALING_KEY_ID to an RSA_3072 ENCRYPT_DECRYPT key (the stack's SealingKeyArn output)`,
      });
    const command = new GetPublicKeyCommand({ KeyId: keyId });
    const output = await this.#kms.send(
      'GetPublicKey',
      undefined,
      () => this.#client.send(command),
      (error) => new EggError('ERR_KMS', `KMS cannot give the public key of ${keyId}`, { cause: error }),
    );
    // Real KMS reports KeySpec; moto only the older CustomerMasterKeySpec.
    const spec = output.KeySpec ?? output.CustomerMasterKeySpec;
    if (output.KeyUsage !== 'ENCRYPT_DECRYPT' || spec !== `RSA_${SEALING_MODULUS_BITS}`)
      throw unusable(
        `is ${spec ?? 'of an unknown spec'}${output.KeyUsage === undefined ? '' : ` for ${output.KeyUsage}`}, not RSA_${SEALING_MODULUS_BITS} for ENCRYPT_DECRYPT`,
      );
    if (!output.EncryptionAlgorithms?.includes(ALGORITHM)) throw unusable(`does not allow ${ALGORITHM}`);
    if (output.PublicKey === undefined) throw unusable('has no public key');
    const spki = Buffer.from(output.PublicKey);
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    if (key.asymmetricKeyDetails?.modulusLength !== SEALING_MODULUS_BITS)
      throw unusable('is not an RSA-3072 key');
    return { kid: sealingKid(spki), spki: spki.toString('base64url') };
  }
}
