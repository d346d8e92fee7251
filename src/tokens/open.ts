/**
 * Builds the token parts from configuration: the signer (local key file or KMS), the
 * token store (SQLite beside the vault, or the DynamoDB table) and the verifier's public
 * key. The AWS SDK loads only on the `aws` path.
 */
import { join } from 'node:path';
import type { AwsCredentials, AwsCredentialsProvider } from '../aws/clients.js';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import { ensureHome, readKeyFile, readOrCreateKey } from '../home.js';
import { type Logger, nullLogger } from '../log.js';
import { osActor } from '../actor.js';
import { type Backend, loginCredentials, openBackend, VAULT_FILE } from '../open.js';
import { LocalSigner, SIGNING_KEY_FILE, type TokenSigner } from './signer.js';
import type { TokenStore } from './token-store.js';
import { Tokens } from './tokens.js';

/** For `aws`: credentials for the SDK clients (the Action's STS session); otherwise the SDK's default chain. */
interface AwsOptions {
  credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
}

/** The token signer: `EGG_HOME/signing-key` (created on first use when `create`) or the KMS key. */
export async function openSigner(
  config: EggConfig,
  options: { create?: boolean; logger?: Logger } & AwsOptions = {},
): Promise<TokenSigner> {
  if (config.backend === 'local') {
    ensureHome(config.home, { create: options.create ?? false });
    const path = join(config.home, SIGNING_KEY_FILE);
    return new LocalSigner(options.create ? readOrCreateKey(path, 32) : readSigningKey(path));
  }
  if (config.signingKeyId === undefined) {
    throw new EggError('ERR_INVALID_CONFIG', 'the aws backend signs tokens with a KMS key, and none is set', {
      hint: 'set EGG_SIGNING_KEY_ID to an ECC_NIST_EDWARDS25519 SIGN_VERIFY key',
    });
  }
  const [{ createKmsClient }, { KmsSigner }] = await Promise.all([
    import('../aws/clients.js'),
    import('./kms-signer.js'),
  ]);
  const client = await createKmsClient({ region: config.region, credentials: options.credentials });
  return new KmsSigner({
    client,
    keyId: config.signingKeyId,
    logger: options.logger ?? nullLogger,
    ownsClient: true,
  });
}

function readSigningKey(path: string): Buffer {
  try {
    return readKeyFile(path, 32);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_NOT_INITIALIZED') {
      throw new EggError('ERR_NOT_INITIALIZED', `there is no token signing key at ${path}`, {
        cause: error,
        hint: 'mint a token first (`egg tokens mint …` creates the key), or point EGG_HOME at the vault that minted them',
      });
    }
    throw error;
  }
}

/** The token store of the configured backend. */
export async function openTokenStore(
  config: EggConfig,
  options: { create?: boolean; logger?: Logger; lockWaitMs?: number } & AwsOptions = {},
): Promise<TokenStore> {
  if (config.backend === 'local') {
    ensureHome(config.home, { create: options.create ?? false });
    const { SqliteTokenStore } = await import('./sqlite-token-store.js');
    return new SqliteTokenStore(
      join(config.home, VAULT_FILE),
      options.lockWaitMs === undefined ? {} : { lockWaitMs: options.lockWaitMs },
    );
  }
  if (config.table === undefined) {
    throw new EggError('ERR_INVALID_CONFIG', 'the aws backend needs a DynamoDB table', {
      hint: 'set EGG_TABLE (or pass --table)',
    });
  }
  const [{ createDynamoDbClient }, { DynamoDbTokenStore }] = await Promise.all([
    import('../aws/clients.js'),
    import('./dynamodb-token-store.js'),
  ]);
  const client = await createDynamoDbClient({ region: config.region, credentials: options.credentials });
  return new DynamoDbTokenStore({
    client,
    table: config.table,
    logger: options.logger ?? nullLogger,
    ownsClient: true,
  });
}

/**
 * Minting, listing and revocation for `config.namespace`; `close()` releases everything it
 * opened. The signing key is opened (and, locally, created) only when a token is minted.
 * `backend`: a vault already open (the Action's, with its STS session), used for the keys'
 * upstreams and the audit trail and left open; `credentials` then reach the token store and
 * the signer too, so every AWS call is made with that one session.
 */
export async function openTokens(
  config: EggConfig,
  options: { logger?: Logger; actor?: string; backend?: Backend } & AwsOptions = {},
): Promise<{ tokens: Tokens; close: () => Promise<void> }> {
  const logger = options.logger ?? nullLogger;
  // The vault, the token store and the signer act as one identity: the given session, or
  // else the one the vault itself would use (an `egg login` session, or the default chain).
  const credentials =
    options.credentials ??
    (config.backend === 'aws' && options.backend === undefined
      ? await loginCredentials(config, logger)
      : undefined);
  const owned = options.backend === undefined;
  const backend = options.backend ?? (await openBackend(config, { logger }));
  const closeBackend = async () => {
    if (!owned) return;
    backend.keyring.close();
    await backend.store.close();
  };
  let store: TokenStore;
  try {
    store = await openTokenStore(config, { logger, credentials });
  } catch (error) {
    await closeBackend();
    throw error;
  }
  let signer: Promise<TokenSigner> | undefined;
  const open = () => (signer ??= openSigner(config, { logger, create: true, credentials }));
  const lazySigner: TokenSigner = {
    kind: config.backend === 'local' ? 'local' : 'kms',
    kid: async () => (await open()).kid(),
    sign: async (data) => (await open()).sign(data),
    publicKey: async () => (await open()).publicKey(),
    close: () => {},
  };
  const tokens = new Tokens({
    namespace: config.namespace,
    signer: lazySigner,
    tokens: store,
    secrets: backend.store,
    actor: options.actor ?? osActor(),
  });
  return {
    tokens,
    close: async () => {
      await signer?.then((s) => s.close()).catch(() => undefined);
      await Promise.all([closeBackend(), store.close()]);
    },
  };
}
