/**
 * The `aws` backend: the DynamoDB store and token store, a KMS keyring (`kms` or
 * `kms-hierarchical`) and the KMS signers, every one on one of two SDK clients built once
 * here with the identity's credentials, so one process signs every AWS request alike. The
 * SDK, the store and the keyring modules load when a backend is opened, never when this
 * module is imported; the KMS client is built on the first KMS call, so a process that only
 * revokes tokens (the Action's post step) never loads it.
 */
import type { AwsAlertPublisher } from '../alerts/aws-channels.js';
import type { KeyMetadata, KMSClient } from '@aws-sdk/client-kms';
import type { AwsClientOptions } from '../aws/clients.js';
import { awsErrorName, identityProblem } from '../aws/errors.js';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import type { Keyring, KeyringKind } from '../keyrings/keyring.js';
import type { SealingKey } from '../keyrings/sealing.js';
import { type Logger, nullLogger } from '../log.js';
import { retry } from '../retry.js';
import type { TokenSigner } from '../tokens/signer.js';
import type { TokenStore } from '../tokens/token-store.js';
import type { Backend, BackendOptions, Identity } from './backend.js';

/** The table name, or an error saying how to set it. */
function requireTable(config: EggConfig): string {
  if (config.table === undefined) {
    throw new EggError('ERR_INVALID_CONFIG', 'the aws backend needs a DynamoDB table', {
      hint: 'set EGG_TABLE (or pass --table)',
    });
  }
  return config.table;
}

function requireKmsKey(config: EggConfig): string {
  if (config.kmsKeyId === undefined) {
    throw new EggError('ERR_INVALID_CONFIG', `the ${config.keyring} keyring needs a KMS key`, {
      hint: 'set EGG_KMS_KEY_ID (or pass --kms-key-id) to a key id, ARN or alias',
    });
  }
  return config.kmsKeyId;
}

function requireSigningKey(config: EggConfig): string {
  if (config.signingKeyId === undefined) {
    throw new EggError('ERR_INVALID_CONFIG', 'the aws backend signs tokens with a KMS key, and none is set', {
      hint: 'set EGG_SIGNING_KEY_ID to an ECC_NIST_EDWARDS25519 SIGN_VERIFY key',
    });
  }
  return config.signingKeyId;
}

function loadKeyringModule(kind: 'kms' | 'kms-hierarchical'): Promise<unknown> {
  return kind === 'kms' ? import('../keyrings/kms.js') : import('../keyrings/kms-hierarchical.js');
}

/**
 * A keyring built on its first call: the KMS client and the keyring's module load then
 * (the Action's main step has loaded them already, while STS answered).
 */
function lazyKeyring(kind: KeyringKind, open: () => Promise<Keyring>): Keyring {
  let keyring: Promise<Keyring> | undefined;
  let closed = false;
  const get = () =>
    (keyring ??= open().then((opened) => {
      // Closed while it opened: nothing may stay cached.
      if (closed) opened.close();
      return opened;
    }));
  return {
    kind,
    generate: async (context) => (await get()).generate(context),
    unwrap: async (wrapped, keyId, context) => (await get()).unwrap(wrapped, keyId, context),
    warm: async (namespace) => (await get()).warm?.(namespace),
    close: () => {
      closed = true;
      void keyring?.then(
        (opened) => opened.close(),
        () => undefined,
      );
    },
  };
}

/**
 * The sealing key `EGG_SEALING_KEY_ID`, opened on its first call; without one configured,
 * every call says how to set it (only sealed provider keys need it).
 */
function lazySealing(keyId: string | undefined, open: (keyId: string) => Promise<SealingKey>): SealingKey {
  let sealing: Promise<SealingKey> | undefined;
  const get = () => {
    if (keyId === undefined)
      throw new EggError('ERR_INVALID_CONFIG', 'no sealing key is set, and sealed provider keys need one', {
        hint: "set EGG_SEALING_KEY_ID to the stack's SealingKeyArn output",
      });
    return (sealing ??= open(keyId));
  };
  return {
    publicKey: async () => (await get()).publicKey(),
    unwrap: async (wrapped, kid, what) => (await get()).unwrap(wrapped, kid, what),
    close: () =>
      void sealing?.then(
        (opened) => opened.close(),
        () => undefined,
      ),
  };
}

/** The aws backend for `identity`; `close()` closes every adapter and destroys both clients. */
export async function openAwsBackend(
  config: EggConfig,
  identity: Identity,
  options: BackendOptions = {},
): Promise<Backend> {
  const table = requireTable(config);
  const { keyring: kind } = config;
  if (kind !== 'kms' && kind !== 'kms-hierarchical') {
    throw new EggError('ERR_INVALID_CONFIG', `the aws backend cannot use the ${kind} keyring`, {
      hint: 'set EGG_KEYRING to "kms" or "kms-hierarchical"',
    });
  }
  const keyId = options.keyless ? undefined : requireKmsKey(config);
  const logger = options.logger ?? nullLogger;
  const clientOptions: AwsClientOptions = {
    region: config.region,
    onCall: options.onCall,
    credentials: identity.credentials,
  };
  const [clients, { DynamoDbStore }] = await Promise.all([
    import('../aws/clients.js'),
    import('../stores/dynamodb.js'),
  ]);
  const dynamodb = await clients.createDynamoDbClient(clientOptions);
  let kms: Promise<KMSClient> | undefined;
  const kmsClient = () => (kms ??= clients.createKmsClient(clientOptions));
  const store = new DynamoDbStore({ client: dynamodb, table, logger });
  const keyring = lazyKeyring(kind, async () => {
    if (keyId === undefined) throw new TypeError('this backend was opened keyless');
    const [client] = await Promise.all([kmsClient(), loadKeyringModule(kind)]);
    const kmsOptions = { client, keyId, logger };
    return kind === 'kms'
      ? new (await import('../keyrings/kms.js')).KmsKeyring(kmsOptions)
      : new (await import('../keyrings/kms-hierarchical.js')).KmsHierarchicalKeyring({
          ...kmsOptions,
          store,
        });
  });
  const kmsSigner = async (signerKeyId: string, setting: string): Promise<TokenSigner> => {
    const [client, { KmsSigner }] = await Promise.all([kmsClient(), import('../tokens/kms-signer.js')]);
    return new KmsSigner({ client, keyId: signerKeyId, logger, setting });
  };
  const sealing = lazySealing(config.sealingKeyId, async (sealingKeyId) => {
    const [client, { KmsSealingKey }] = await Promise.all([
      kmsClient(),
      import('../keyrings/kms-sealing.js'),
    ]);
    return new KmsSealingKey({ client, keyId: sealingKeyId, logger });
  });
  let tokens: Promise<TokenStore> | undefined;
  let signer: Promise<TokenSigner> | undefined;
  let anchor: Promise<TokenSigner | undefined> | undefined;
  let publisher: Promise<AwsAlertPublisher> | undefined;
  return {
    kind: 'aws',
    store,
    keyring,
    sealing,
    actor: identity.actor,
    tokenStore: () =>
      (tokens ??= import('../tokens/dynamodb-token-store.js').then(
        ({ DynamoDbTokenStore }) => new DynamoDbTokenStore({ client: dynamodb, table, logger }),
      )),
    signer: () => (signer ??= kmsSigner(requireSigningKey(config), 'EGG_SIGNING_KEY_ID')),
    anchorSigner: () =>
      (anchor ??=
        config.anchorKeyId === undefined
          ? Promise.resolve(undefined)
          : kmsSigner(config.anchorKeyId, 'EGG_ANCHOR_KEY_ID')),
    alertPublisher: () =>
      (publisher ??= import('../alerts/aws-channels.js').then(
        ({ AwsAlertPublisher }) => new AwsAlertPublisher({ clientOptions }),
      )),
    close: async () => {
      keyring.close();
      sealing.close();
      const opened = await tokens?.catch(() => undefined);
      await Promise.all([store.close(), opened?.close()]);
      dynamodb.destroy();
      (await kms?.catch(() => undefined))?.destroy();
      await (await publisher?.catch(() => undefined))?.close();
    },
  };
}

/**
 * `egg init --backend aws`: check that the table exists (creating it with `createTable`)
 * and that the KMS key is usable for data keys, as `identity`.
 */
export async function initAws(
  config: EggConfig,
  identity: Identity,
  options: { createTable: boolean; logger: Logger },
): Promise<{ table: string; created: boolean }> {
  const table = requireTable(config);
  const keyId = requireKmsKey(config);
  const [clients, dynamodbStore] = await Promise.all([
    import('../aws/clients.js'),
    import('../stores/dynamodb.js'),
  ]);
  const clientOptions = { region: config.region, credentials: identity.credentials };
  const [dynamodb, kms] = await Promise.all([
    clients.createDynamoDbClient(clientOptions),
    clients.createKmsClient(clientOptions),
  ]);
  try {
    let created = false;
    const status = await dynamodbStore.describeTableStatus(dynamodb, table);
    if (status === undefined) {
      if (!options.createTable) {
        throw new EggError('ERR_NOT_INITIALIZED', `the DynamoDB table ${table} does not exist`, {
          hint: 'create it with `egg init --backend aws --create-table` (development) or deploy infra/ (production)',
        });
      }
      created = await dynamodbStore.createTable(dynamodb, table);
      options.logger.info('table.created', { table });
    }
    await checkKmsKey(kms, keyId);
    return { table, created };
  } finally {
    dynamodb.destroy();
    kms.destroy();
  }
}

/** DescribeKey: the key exists, we may see it, and it is an enabled symmetric encryption key. */
async function checkKmsKey(kms: KMSClient, keyId: string): Promise<void> {
  const { DescribeKeyCommand } = await import('@aws-sdk/client-kms');
  let metadata: KeyMetadata | undefined;
  try {
    ({ KeyMetadata: metadata } = await retry(() => kms.send(new DescribeKeyCommand({ KeyId: keyId })), {
      label: 'kms.DescribeKey',
    }));
  } catch (error) {
    throw (
      identityProblem(error, 'kms:DescribeKey', undefined) ??
      new EggError('ERR_KMS', `the KMS key ${keyId} cannot be used (${awsErrorName(error)})`, {
        cause: error,
        hint: 'check EGG_KMS_KEY_ID and the region',
      })
    );
  }
  if (
    metadata?.Enabled === false ||
    (metadata?.KeyUsage !== undefined && metadata.KeyUsage !== 'ENCRYPT_DECRYPT')
  ) {
    throw new EggError('ERR_KMS', `the KMS key ${keyId} is disabled or not a symmetric encryption key`, {
      hint: 'use an enabled symmetric (SYMMETRIC_DEFAULT) key for EGG_KMS_KEY_ID',
    });
  }
}
