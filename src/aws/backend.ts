/**
 * The `aws` backend: the DynamoDB store and a KMS keyring (`kms` or `kms-hierarchical`),
 * built from configuration. The SDK clients, the store and the keyring modules load in
 * parallel when a backend is opened, never when this module is imported.
 */
import type { KeyMetadata, KMSClient } from '@aws-sdk/client-kms';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import type { Keyring } from '../keyrings/keyring.js';
import type { Logger } from '../log.js';
import type { Backend } from '../open.js';
import { retry } from '../retry.js';
import type { AwsCall, AwsCredentials, AwsCredentialsProvider } from './clients.js';
import { awsErrorName, identityProblem } from './errors.js';

export interface AwsBackendOptions {
  logger: Logger;
  /** Called for every AWS request (the benchmark counts DynamoDB and KMS calls with it). */
  onCall?: (call: AwsCall) => void;
  /** Temporary credentials from the OIDC exchange (or an `egg login` provider); otherwise the SDK's default chain. */
  credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
}

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

function loadKeyringModule(kind: 'kms' | 'kms-hierarchical'): Promise<unknown> {
  return kind === 'kms' ? import('../keyrings/kms.js') : import('../keyrings/kms-hierarchical.js');
}

/** The DynamoDB store and the configured KMS keyring; close both when done. */
export async function openAwsBackend(config: EggConfig, options: AwsBackendOptions): Promise<Backend> {
  const table = requireTable(config);
  if (config.keyring !== 'kms' && config.keyring !== 'kms-hierarchical') {
    throw new EggError('ERR_INVALID_CONFIG', `the aws backend cannot use the ${config.keyring} keyring`, {
      hint: 'set EGG_KEYRING to "kms" or "kms-hierarchical"',
    });
  }
  const keyId = requireKmsKey(config);
  const clientOptions = { region: config.region, onCall: options.onCall, credentials: options.credentials };
  // Load the SDK clients, the store and the keyring modules at once; none loads at import time.
  const [clients, { DynamoDbStore }] = await Promise.all([
    import('./clients.js'),
    import('../stores/dynamodb.js'),
    loadKeyringModule(config.keyring),
  ]);
  const [dynamodb, kms] = await Promise.all([
    clients.createDynamoDbClient(clientOptions),
    clients.createKmsClient(clientOptions),
  ]);
  const store = new DynamoDbStore({ client: dynamodb, table, logger: options.logger, ownsClient: true });
  const kmsOptions = { client: kms, keyId, logger: options.logger, ownsClient: true };
  const keyring: Keyring =
    config.keyring === 'kms'
      ? new (await import('../keyrings/kms.js')).KmsKeyring(kmsOptions)
      : new (await import('../keyrings/kms-hierarchical.js')).KmsHierarchicalKeyring({
          ...kmsOptions,
          store,
        });
  return { store, keyring };
}

/**
 * `egg init --backend aws`: check that the table exists (creating it with `createTable`)
 * and that the KMS key is usable for data keys.
 */
export async function initAws(
  config: EggConfig,
  options: { createTable: boolean; logger: Logger },
): Promise<{ table: string; created: boolean }> {
  const table = requireTable(config);
  const keyId = requireKmsKey(config);
  const [clients, dynamodbStore] = await Promise.all([
    import('./clients.js'),
    import('../stores/dynamodb.js'),
  ]);
  const [dynamodb, kms] = await Promise.all([
    clients.createDynamoDbClient({ region: config.region }),
    clients.createKmsClient({ region: config.region }),
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
