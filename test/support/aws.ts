/**
 * Helpers for suites that use DynamoDB Local and moto: the endpoints from globalSetup,
 * fake credentials, a fresh table and a fresh KMS key per suite.
 */
import { randomBytes } from 'node:crypto';
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { inject } from 'vitest';
import { createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import { createTable } from '../../src/stores/dynamodb.js';
import { type AwsEndpoints, FAKE_AWS_ENV } from './global-setup.js';

/** The endpoints globalSetup started, with the SDK pointed at them through its own env vars. */
export function useTestAws(): AwsEndpoints {
  const endpoints = inject('aws');
  if (endpoints === null || endpoints === undefined) {
    throw new Error(
      'DynamoDB Local and moto are not running: unset EGG_TEST_SERVICES=0 to run integration tests',
    );
  }
  Object.assign(process.env, FAKE_AWS_ENV, {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_KMS: endpoints.moto,
    AWS_ENDPOINT_URL_STS: endpoints.moto,
  });
  return endpoints;
}

/** A fresh, uniquely named table (suites run in parallel against one DynamoDB Local). */
export async function createTestTable(prefix = 'egg-test'): Promise<string> {
  useTestAws();
  const table = `${prefix}-${randomBytes(6).toString('hex')}`;
  const client = await createDynamoDbClient();
  try {
    await createTable(client, table);
  } finally {
    client.destroy();
  }
  return table;
}

/** A fresh symmetric KMS key in moto; returns its ARN. */
export async function createTestKmsKey(client?: KMSClient): Promise<string> {
  useTestAws();
  const kms = client ?? (await createKmsClient());
  try {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'egg test key' }));
    if (KeyMetadata?.Arn === undefined) throw new Error('moto returned no key ARN');
    return KeyMetadata.Arn;
  } finally {
    if (client === undefined) kms.destroy();
  }
}
