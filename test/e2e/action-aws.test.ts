/**
 * The bundled Action end to end on the aws backend: the loopback OIDC token service and
 * STS, DynamoDB Local and moto's KMS. The step gets no AWS credentials but the ones STS
 * issues for its OIDC token, so a pull that works proves they reached the SDK clients.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openAwsBackend } from '../../src/aws/backend.js';
import type { EggConfig } from '../../src/config.js';
import { nullLogger } from '../../src/log.js';
import { Vault } from '../../src/vault/vault.js';
import { newJob } from '../support/action-runner.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { findLeaks } from '../support/cli.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
const CANARY = 'egg-canary-aws-5d1e0b7a-DO-NOT-LEAK';

describe.skipIf(inject('aws') === null)('the Action on the aws backend', () => {
  let base: string;
  let oidc: FakeOidc;
  let sts: FakeSts;
  let config: EggConfig;
  let childEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const endpoints = useTestAws();
    base = mkdtempSync(join(tmpdir(), 'egg-action-aws-'));
    const [table, keyArn] = await Promise.all([createTestTable('egg-action'), createTestKmsKey()]);
    config = {
      backend: 'aws',
      home: join(base, 'home'),
      namespace: `acme/web-${randomBytes(3).toString('hex')}`,
      keyring: 'kms',
      rotation: 'inline',
      region: 'us-east-1',
      table,
      kmsKeyId: keyArn,
    };
    const backend = await openAwsBackend(config, { logger: nullLogger });
    const vault = new Vault({ ...backend, namespace: config.namespace, actor: 'test' });
    await vault.set('API_KEY', Buffer.from(CANARY));
    await vault.set('DB_URL', Buffer.from(`postgres://app:${CANARY}@db/app`));
    backend.keyring.close();
    await backend.store.close();

    oidc = await startFakeOidc();
    sts = await startFakeSts({
      providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
      roles: [{ arn: ROLE, sub: ['repo:acme/web:*'], aud: 'sts.amazonaws.com' }],
    });
    // No AWS_ACCESS_KEY_ID: the only credentials the step can have are the ones STS issues.
    childEnv = {
      ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_KMS: endpoints.moto,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  });
  afterAll(async () => {
    await Promise.all([oidc?.close(), sts?.close()]);
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });

  it('pulls with the STS credentials, rotates, and keeps the credentials in the process', async () => {
    const main = await newJob(base).main(
      {
        'role-to-assume': ROLE,
        'aws-region': 'us-east-1',
        table: config.table as string,
        'kms-key-id': config.kmsKeyId as string,
        namespace: config.namespace,
      },
      childEnv,
    );
    expect(main.stderr).toBe('');
    expect(main.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([]);
    expect(main.code).toBe(0);
    expect(main.env).toEqual(
      new Map([
        ['API_KEY', CANARY],
        ['DB_URL', `postgres://app:${CANARY}@db/app`],
      ]),
    );
    expect(sts.calls).toEqual([
      { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'ok' },
    ]);
    const credentials = sts.issued.at(-1);
    for (const text of [main.stdout, main.envFile, main.outputFile, main.summary]) {
      expect(text.includes(credentials?.secretAccessKey as string)).toBe(false);
      expect(text.includes(credentials?.sessionToken as string)).toBe(false);
    }
    const other = main.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));
    expect(findLeaks(other.join('\n'), CANARY)).toEqual([]);

    const backend = await openAwsBackend(config, { logger: nullLogger });
    try {
      const items = await backend.store.getSecrets(config.namespace);
      expect(Object.fromEntries(items.map((item) => [item.name, item.gen]))).toEqual({
        API_KEY: 2,
        DB_URL: 2,
      });
    } finally {
      backend.keyring.close();
      await backend.store.close();
    }
  });
});
