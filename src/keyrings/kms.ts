/**
 * The `kms` keyring: every data key comes from KMS `GenerateDataKey` and is unwrapped by
 * KMS `Decrypt`, both with the encryption context `{namespace, secret}` (DESIGN, Crypto),
 * so a wrapped key moved to another secret or namespace does not decrypt, and IAM can
 * confine a role to its namespace with `kms:EncryptionContext:namespace`.
 *
 * `Decrypt` names the configured key (`KeyId`) rather than trusting the item: someone who
 * can write the table cannot make us accept a data key wrapped under a key they control
 * (AWS KMS best practices, "Decrypt: specify the KMS key").
 */
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { awsErrorName, identityProblem } from '../aws/errors.js';
import { KEY_BYTES } from '../crypto/aead.js';
import { wipe } from '../crypto/wipe.js';
import { DecryptionFailed, EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { isTransient, type RetryOptions, retry } from '../retry.js';
import type { DataKey, KeyContext, Keyring } from './keyring.js';

/** KMS refusing a ciphertext: all of these are "the item is corrupt, was moved, or the key is wrong". */
const UNDECRYPTABLE = new Set([
  'InvalidCiphertextException',
  'IncorrectKeyException',
  'InvalidKeyUsageException',
  'NotFoundException',
  'KMSInvalidStateException',
  'DisabledException',
]);

export interface KmsOptions {
  client: KMSClient;
  /** The KMS key: id, ARN, alias name or alias ARN (EGG_KMS_KEY_ID). */
  keyId: string;
  logger?: Logger;
  /** Destroy `client` on `close()`. */
  ownsClient?: boolean;
  retry?: Pick<RetryOptions, 'attempts' | 'baseMs' | 'capMs' | 'sleep' | 'random'>;
}

/** A plaintext key from KMS as a Buffer over the SDK's own bytes, so wiping it wipes them. */
function keyBytes(bytes: Uint8Array | undefined): Buffer | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * KMS calls shared by the `kms` and `kms-hierarchical` keyrings: retries on transient
 * failures, and one translation of what is left.
 */
export class KmsCalls {
  readonly keyId: string;
  readonly #client: KMSClient;
  readonly #logger: Logger;
  readonly #retry: NonNullable<KmsOptions['retry']>;
  readonly #ownsClient: boolean;

  constructor(options: KmsOptions) {
    if (options.keyId === '') throw new TypeError('a KMS key id is required');
    this.keyId = options.keyId;
    this.#client = options.client;
    this.#logger = options.logger ?? nullLogger;
    this.#retry = options.retry ?? {};
    this.#ownsClient = options.ownsClient ?? false;
  }

  /** A fresh AES-256 data key bound to `context`; `keyId` is the key ARN KMS reports. */
  async generateDataKey(context: Record<string, string>, namespace: string): Promise<DataKey> {
    const command = new GenerateDataKeyCommand({
      KeyId: this.keyId,
      KeySpec: 'AES_256',
      EncryptionContext: context,
    });
    const output = await this.send(
      'GenerateDataKey',
      namespace,
      () => this.#client.send(command),
      (error) =>
        new EggError('ERR_KMS', `KMS cannot generate data keys with key ${this.keyId}`, {
          cause: error,
          hint: 'check EGG_KMS_KEY_ID: the key must exist in this region, be enabled, and be a symmetric encryption key',
        }),
    );
    const plaintext = keyBytes(output.Plaintext);
    if (
      plaintext?.length !== KEY_BYTES ||
      output.CiphertextBlob === undefined ||
      output.KeyId === undefined
    ) {
      wipe(plaintext);
      throw new EggError('ERR_KMS', 'KMS returned a malformed data key');
    }
    return { plaintext, wrapped: Buffer.from(output.CiphertextBlob), keyId: output.KeyId };
  }

  /** The plaintext of a data key wrapped under the configured key with `context`, or `DecryptionFailed`. */
  async decrypt(
    wrapped: Buffer,
    context: Record<string, string>,
    namespace: string,
    what: string,
  ): Promise<Buffer> {
    const command = new DecryptCommand({
      CiphertextBlob: wrapped,
      KeyId: this.keyId,
      EncryptionContext: context,
    });
    const output = await this.send(
      'Decrypt',
      namespace,
      () => this.#client.send(command),
      (error) => new DecryptionFailed(what, error),
    );
    const plaintext = keyBytes(output.Plaintext);
    if (plaintext?.length !== KEY_BYTES) {
      wipe(plaintext);
      throw new DecryptionFailed(what);
    }
    return plaintext;
  }

  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  /**
   * One KMS call with the shared retries and translation: `refused` is what a refusal of the
   * ciphertext or key means to the caller (kms-sealing.ts uses it for its own operations).
   */
  async send<T>(
    operation: string,
    namespace: string | undefined,
    send: () => Promise<T>,
    refused: (error: unknown) => EggError,
  ): Promise<T> {
    try {
      return await retry(send, { label: `kms.${operation}`, logger: this.#logger, ...this.#retry });
    } catch (error) {
      if (error instanceof EggError) throw error;
      const name = awsErrorName(error);
      if (UNDECRYPTABLE.has(name)) throw refused(error);
      const identity = identityProblem(error, `kms:${operation}`, namespace);
      if (identity !== undefined) throw identity;
      throw new EggError(
        'ERR_KMS',
        isTransient(error) ? `could not reach KMS (${name})` : `kms:${operation} failed (${name})`,
        { cause: error, hint: 'check the network, the region and AWS_ENDPOINT_URL_KMS, then try again' },
      );
    }
  }
}

export class KmsKeyring implements Keyring {
  readonly kind = 'kms' as const;
  readonly #kms: KmsCalls;

  constructor(options: KmsOptions) {
    this.#kms = new KmsCalls(options);
  }

  async generate(context: KeyContext): Promise<DataKey> {
    return this.#kms.generateDataKey(encryptionContext(context), context.namespace);
  }

  async unwrap(wrapped: Buffer, keyId: string, context: KeyContext): Promise<Buffer> {
    const what = `secret ${context.secret}`;
    // An item wrapped by another keyring (local, hierarchical) is not ours to send to KMS.
    if (!keyId.startsWith('arn:')) throw new DecryptionFailed(what);
    return this.#kms.decrypt(wrapped, encryptionContext(context), context.namespace, what);
  }

  close(): void {
    this.#kms.close();
  }
}

/** The encryption context of a secret's data key: exactly these two pairs (DESIGN, Crypto). */
function encryptionContext(context: KeyContext): Record<string, string> {
  return { namespace: context.namespace, secret: context.secret };
}
