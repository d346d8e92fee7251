/**
 * Token signing with a KMS asymmetric key (key spec `ECC_NIST_EDWARDS25519`, usage
 * `SIGN_VERIFY`): `Sign` with `SigningAlgorithm: ED25519_SHA_512` and `MessageType: RAW`
 * is pure Ed25519 over the JWS signing input (AWS KMS Developer Guide, "Asymmetric key
 * specs", SM2/EdDSA). The private key never leaves KMS; `GetPublicKey` is called once and
 * cached, and the verifier checks signatures locally with it.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { awsErrorName, identityProblem } from '../aws/errors.js';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { isTransient, retry } from '../retry.js';
import { keyIdOf, type TokenSigner } from './signer.js';

export interface KmsSignerOptions {
  client: KMSClient;
  /** EGG_SIGNING_KEY_ID: key id, ARN or alias of the Ed25519 key. */
  keyId: string;
  logger?: Logger;
  ownsClient?: boolean;
  /** The setting that names the key, for hints. Default `EGG_SIGNING_KEY_ID`. */
  setting?: string;
}

export class KmsSigner implements TokenSigner {
  readonly kind = 'kms' as const;
  readonly #client: KMSClient;
  readonly #keyId: string;
  readonly #logger: Logger;
  readonly #ownsClient: boolean;
  readonly #setting: string;
  #public: Promise<KeyObject> | undefined;

  constructor(options: KmsSignerOptions) {
    if (options.keyId === '') throw new TypeError('a KMS signing key id is required');
    this.#client = options.client;
    this.#keyId = options.keyId;
    this.#logger = options.logger ?? nullLogger;
    this.#ownsClient = options.ownsClient ?? false;
    this.#setting = options.setting ?? 'EGG_SIGNING_KEY_ID';
  }

  async kid(): Promise<string> {
    return keyIdOf(await this.publicKey());
  }

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const command = new SignCommand({
      KeyId: this.#keyId,
      Message: data,
      MessageType: 'RAW',
      SigningAlgorithm: 'ED25519_SHA_512',
    });
    const { Signature } = await this.#send('Sign', () => this.#client.send(command));
    if (Signature?.length !== 64) throw new EggError('ERR_KMS', 'KMS returned a malformed Ed25519 signature');
    return Signature;
  }

  publicKey(): Promise<KeyObject> {
    this.#public ??= this.#fetchPublicKey().catch((error) => {
      this.#public = undefined;
      throw error;
    });
    return this.#public;
  }

  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  async #fetchPublicKey(): Promise<KeyObject> {
    const command = new GetPublicKeyCommand({ KeyId: this.#keyId });
    const output = await this.#send('GetPublicKey', () => this.#client.send(command));
    if (
      output.PublicKey === undefined ||
      (output.KeySpec !== undefined && output.KeySpec !== 'ECC_NIST_EDWARDS25519') ||
      (output.KeyUsage !== undefined && output.KeyUsage !== 'SIGN_VERIFY')
    ) {
      throw new EggError('ERR_KMS', `the KMS key ${this.#keyId} is not an Ed25519 signing key`, {
        hint: `create it with --key-spec ECC_NIST_EDWARDS25519 --key-usage SIGN_VERIFY and set ${this.#setting}`,
      });
    }
    const key = createPublicKey({ key: Buffer.from(output.PublicKey), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new EggError('ERR_KMS', `the KMS key ${this.#keyId} is not an Ed25519 key`);
    }
    return key;
  }

  async #send<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await retry(send, { label: `kms.${operation}`, logger: this.#logger });
    } catch (error) {
      if (error instanceof EggError) throw error;
      const identity = identityProblem(error, `kms:${operation}`, undefined);
      if (identity !== undefined) throw identity;
      const name = awsErrorName(error);
      throw new EggError(
        'ERR_KMS',
        isTransient(error)
          ? `could not reach KMS (${name})`
          : `kms:${operation} failed with key ${this.#keyId} (${name})`,
        {
          cause: error,
          hint: `check ${this.#setting}: an enabled ECC_NIST_EDWARDS25519 SIGN_VERIFY key in this region`,
        },
      );
    }
  }
}
