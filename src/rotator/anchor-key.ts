/**
 * The anchor key: the Ed25519 key that signs audit checkpoints (src/vault/anchor.ts). It is
 * the rotator's, and no reader's, and it is never the token signing key (every minting role
 * may sign with that one).
 *
 * `local`: a 32-byte seed in `EGG_HOME/anchor-key` (0600), created by the first checkpoint.
 * The readers and the anchor are then the same OS user, so a local anchor stops accidents
 * and tools, not that user (SECURITY.md). `aws`: the KMS key `EGG_ANCHOR_KEY_ID`
 * (`ECC_NIST_EDWARDS25519`); infra/ lets only the rotator's role `Sign` with it and every
 * grant read its public key.
 */
import { join } from 'node:path';
import type { AwsCredentials, AwsCredentialsProvider } from '../aws/clients.js';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import { ensureHome, readKeyFile, readOrCreateKey } from '../home.js';
import { type Logger, nullLogger } from '../log.js';
import { LocalSigner, type TokenSigner } from '../tokens/signer.js';
import type { AnchorKey } from '../vault/anchor.js';

export const ANCHOR_KEY_FILE = 'anchor-key';

export interface AnchorKeyOptions {
  logger?: Logger;
  /** For `aws`: credentials for the KMS client; otherwise the SDK's default chain. */
  credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
}

/**
 * The checkpoint signer: `EGG_HOME/anchor-key` (created when `create`), or the KMS key
 * `EGG_ANCHOR_KEY_ID`. Undefined on `aws` when no anchor key is configured.
 */
export async function openAnchorSigner(
  config: EggConfig,
  options: AnchorKeyOptions & { create?: boolean } = {},
): Promise<TokenSigner | undefined> {
  if (config.backend === 'local') {
    ensureHome(config.home, { create: options.create ?? false });
    const path = join(config.home, ANCHOR_KEY_FILE);
    return new LocalSigner(options.create ? readOrCreateKey(path, 32) : readAnchorSeed(path));
  }
  if (config.anchorKeyId === undefined) return undefined;
  const [{ createKmsClient }, { KmsSigner }] = await Promise.all([
    import('../aws/clients.js'),
    import('../tokens/kms-signer.js'),
  ]);
  const client = await createKmsClient({ region: config.region, credentials: options.credentials });
  return new KmsSigner({
    client,
    keyId: config.anchorKeyId,
    logger: options.logger ?? nullLogger,
    ownsClient: true,
    setting: 'EGG_ANCHOR_KEY_ID',
  });
}

/** The key `egg audit verify` checks checkpoints with; asked for only when a trail has some. */
export async function readAnchorKey(config: EggConfig, options: AnchorKeyOptions = {}): Promise<AnchorKey> {
  if (config.backend === 'aws' && config.anchorKeyId === undefined)
    throw new EggError(
      'ERR_INVALID_CONFIG',
      'the audit trail has checkpoints, and no anchor key is set to check them',
      { hint: "set EGG_ANCHOR_KEY_ID to the stack's AnchorKeyArn output" },
    );
  const signer = await openAnchorSigner(config, options);
  if (signer === undefined) throw new TypeError('no anchor key');
  try {
    return { kid: await signer.kid(), publicKey: await signer.publicKey() };
  } finally {
    signer.close();
  }
}

function readAnchorSeed(path: string): Buffer {
  try {
    return readKeyFile(path, 32);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_NOT_INITIALIZED')
      throw new EggError('ERR_NOT_INITIALIZED', `there is no audit anchor key at ${path}`, {
        cause: error,
        hint: 'restore it from your backup of EGG_HOME: without it the checkpoints cannot be checked',
      });
    throw error;
  }
}
