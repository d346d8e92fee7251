/**
 * The aws backend's laptop checks: the credentials every other command would use (an
 * `egg login` session, else the SDK's default chain: profiles, SSO, environment), the table
 * (DescribeTable) and the KMS key (DescribeKey). Loaded only
 * when the configured backend is aws, so a local `egg doctor` never loads the SDK.
 */
import { DescribeKeyCommand, type KeyMetadata } from '@aws-sdk/client-kms';
import { createDynamoDbClient, createKmsClient } from '../aws/clients.js';
import type { Identity } from '../backends/backend.js';
import { cliIdentity } from '../backends/identity.js';
import { awsErrorName, identityProblem } from '../aws/errors.js';
import type { EggConfig } from '../config.js';
import { nullLogger } from '../log.js';
import { retry } from '../retry.js';
import { describeTableStatus } from '../stores/dynamodb.js';
import { type Check, fail, fromError, ok, skip } from './report.js';

export async function awsChecks(config: EggConfig): Promise<Check[]> {
  let credentials: Identity['credentials'];
  try {
    // The CLI's own identity (src/backends/identity.ts), so the check sees what commands use.
    ({ credentials } = await cliIdentity(config, nullLogger));
  } catch (error) {
    const { detail, fix } = fromError(error);
    return [
      fail(
        'AWS credentials',
        `the egg login session cannot be used: ${detail}`,
        fix ?? 'run `egg login` again',
      ),
    ];
  }
  const options = { region: config.region, credentials };
  const [dynamodb, kms] = await Promise.all([createDynamoDbClient(options), createKmsClient(options)]);
  try {
    const checks: Check[] = [];
    const credentials = await credentialsCheck(dynamodb.config);
    checks.push(credentials);
    const usable = credentials.status === 'ok';
    const noCredentials = skip('', 'needs AWS credentials');
    checks.push(
      usable ? await tableCheck(dynamodb, config.table) : { ...noCredentials, name: 'DynamoDB table' },
      usable ? await keyCheck(kms, config.kmsKeyId) : { ...noCredentials, name: 'KMS key' },
    );
    return checks;
  } finally {
    dynamodb.destroy();
    kms.destroy();
  }
}

/** Resolves the region and the credentials, as the first real call would. */
async function credentialsCheck(clientConfig: {
  region: () => Promise<string>;
  credentials: () => Promise<{ accessKeyId: string; expiration?: Date }>;
}): Promise<Check> {
  const name = 'AWS credentials';
  let region: string;
  try {
    region = await clientConfig.region();
  } catch {
    return fail(name, 'no AWS region is configured', 'set AWS_REGION (or EGG_REGION, or --region)');
  }
  try {
    const identity = await clientConfig.credentials();
    const expires =
      identity.expiration === undefined
        ? ''
        : `, expiring ${identity.expiration.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
    // An access key id names the key without granting anything (AWS prints it in consoles and logs).
    return ok(name, `found (access key ${identity.accessKeyId}${expires}); region ${region}`);
  } catch (error) {
    return fail(
      name,
      `none found in the SDK's default chain (${awsErrorName(error)})`,
      'run `aws sso login` or `egg login`, set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
}

async function tableCheck(
  client: Awaited<ReturnType<typeof createDynamoDbClient>>,
  table: string | undefined,
): Promise<Check> {
  const name = 'DynamoDB table';
  if (table === undefined) return fail(name, 'no table is configured', 'set EGG_TABLE (or pass --table)');
  try {
    const status = await describeTableStatus(client, table);
    if (status === undefined) {
      return fail(
        name,
        `${table} does not exist in this account and region`,
        'create it with `egg init --backend aws --create-table` (development) or deploy infra/ (production)',
      );
    }
    return status === 'ACTIVE'
      ? ok(name, `${table} is ACTIVE`)
      : fail(name, `${table} is ${status}`, 'wait until it is ACTIVE');
  } catch (error) {
    const { detail, fix } = fromError(error);
    return fail(name, detail, fix ?? 'check EGG_TABLE, the region and your network');
  }
}

async function keyCheck(
  client: Awaited<ReturnType<typeof createKmsClient>>,
  keyId: string | undefined,
): Promise<Check> {
  const name = 'KMS key';
  if (keyId === undefined) {
    return fail(name, 'no KMS key is configured', 'set EGG_KMS_KEY_ID (or pass --kms-key-id)');
  }
  let metadata: KeyMetadata | undefined;
  try {
    ({ KeyMetadata: metadata } = await retry(() => client.send(new DescribeKeyCommand({ KeyId: keyId })), {
      label: 'kms.DescribeKey',
    }));
  } catch (error) {
    const known = identityProblem(error, 'kms:DescribeKey', undefined);
    if (known !== undefined) return fail(name, known.message, known.hint);
    return fail(
      name,
      `${keyId} cannot be used (${awsErrorName(error)})`,
      'check EGG_KMS_KEY_ID and the region',
    );
  }
  if (metadata?.Enabled === false) {
    return fail(
      name,
      `${keyId} is disabled (${metadata.KeyState ?? 'Disabled'})`,
      'enable it, or use another key',
    );
  }
  if (metadata?.KeyUsage !== undefined && metadata.KeyUsage !== 'ENCRYPT_DECRYPT') {
    return fail(
      name,
      `${keyId} is a ${metadata.KeyUsage} key`,
      'use an enabled symmetric (SYMMETRIC_DEFAULT) encryption key',
    );
  }
  return ok(name, `${metadata?.Arn ?? keyId} is enabled for encryption`);
}
