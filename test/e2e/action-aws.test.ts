/**
 * The bundled Action end to end on the aws backend: the loopback OIDC token service and
 * STS, DynamoDB Local and moto's KMS. The step gets no AWS credentials but the ones STS
 * issues for its OIDC token, so a pull that works proves they reached the SDK clients.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { openAwsBackend } from '../../src/aws/backend.js';
import type { EggConfig } from '../../src/config.js';
import { nullLogger } from '../../src/log.js';
import { Vault } from '../../src/vault/vault.js';
import { commandData, type Job, newJob, type StepResult, spawnNode } from '../support/action-runner.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { findLeaks } from '../support/cli.js';
import { type FakeAws, type FakeRequest, startFakeAws } from '../support/fake-aws.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
const CANARY = 'egg-canary-aws-5d1e0b7a-DO-NOT-LEAK';
/** The SDK's web-identity provider, as a later step's SDK would load it (a transitive dependency). */
const WEB_IDENTITY_PROVIDER = createRequire(import.meta.url).resolve(
  '@aws-sdk/credential-provider-web-identity',
);

/** Lines of stdout that are not `::add-mask::` commands. */
const unmasked = (step: StepResult) =>
  step.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));

describe.skipIf(inject('aws') === null)('the Action on the aws backend', () => {
  let base: string;
  let oidc: FakeOidc;
  let sts: FakeSts;
  let config: EggConfig;
  let childEnv: NodeJS.ProcessEnv;
  let inputs: Record<string, string>;

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
    inputs = {
      'role-to-assume': ROLE,
      'aws-region': 'us-east-1',
      table: config.table as string,
      'kms-key-id': config.kmsKeyId as string,
      namespace: config.namespace,
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

  it('hands later steps a 0600 web-identity token file their SDK assumes the role with, and post deletes it', async () => {
    const job = newJob(base);
    const main = await job.main(
      { ...inputs, secrets: 'API_KEY', 'web-identity-token-file': 'true' },
      childEnv,
    );
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);
    // The token is a credential: the very first thing the step prints is its mask.
    const lines = main.stdout.split('\n');
    const token = commandData(lines[0] as string, 'add-mask') as string;
    expect(token).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/);

    const path = main.env.get('AWS_WEB_IDENTITY_TOKEN_FILE') as string;
    expect(main.env).toEqual(
      new Map([
        ['API_KEY', CANARY],
        ['AWS_ROLE_ARN', ROLE],
        ['AWS_WEB_IDENTITY_TOKEN_FILE', path],
        ['AWS_ROLE_SESSION_NAME', 'egg-4242-1'],
        ['AWS_REGION', 'us-east-1'],
        ['AWS_DEFAULT_REGION', 'us-east-1'],
      ]),
    );
    expect(dirname(path)).toBe(job.temp);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(token);
    expect(JSON.parse(main.state.get('files') as string)).toEqual([path]);

    // A later step: a fresh process with the exported variables, and the SDK's own provider.
    const later = await spawnNode(
      [
        '-e',
        `require(process.argv[1]).fromTokenFile()().then(
           (c) => process.stdout.write(JSON.stringify({ accessKeyId: c.accessKeyId, expiration: c.expiration })),
           (e) => { process.stderr.write(e.name + ': ' + e.message); process.exit(1); })`,
        WEB_IDENTITY_PROVIDER,
      ],
      {
        PATH: process.env.PATH,
        ...Object.fromEntries(main.env),
        AWS_ENDPOINT_URL_STS: sts.endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    );
    expect(later.stderr).toBe('');
    expect(JSON.parse(later.stdout)).toMatchObject({ accessKeyId: sts.issued.at(-1)?.accessKeyId });
    expect(sts.calls.slice(-2)).toEqual([
      { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'ok' },
      { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 3600, outcome: 'ok' },
    ]);

    const post = await job.post();
    expect(post).toMatchObject({ code: 0, stderr: '' });
    expect(post.stdout).toBe(`No tokens were minted by this job; nothing to revoke.\nDeleted ${path}.\n`);
    expect(existsSync(path)).toBe(false);

    // Only the mask command carries the token.
    for (const text of [lines.slice(1).join('\n'), main.envFile, main.outputFile, main.summary, post.stdout])
      expect(text.includes(token)).toBe(false);
    expect(findLeaks(unmasked(main).join('\n'), CANARY)).toEqual([]);
  });

  describe('when DynamoDB or KMS denies the role', () => {
    let fake: FakeAws;
    let deny: (request: FakeRequest) => boolean;
    beforeAll(async () => {
      // IAM's wording, which names the caller and the action.
      fake = await startFakeAws((request) =>
        deny(request)
          ? {
              error: 'AccessDeniedException',
              message: `User: arn:aws:sts::123456789012:assumed-role/egg-ci/egg-4242-1 is not authorized to perform: ${request.operation} because no identity-based policy allows it`,
            }
          : { body: { Items: [], Count: 0, ScannedCount: 0 } },
      );
    });
    afterEach(() => {
      fake.requests.length = 0;
    });
    afterAll(() => fake?.close());

    /** The step failed with one error line, and handed nothing on and wrote nothing. */
    const expectRefused = (job: Job, main: StepResult, error: string[]) => {
      expect(main).toMatchObject({ code: 1, stderr: '' });
      const lines = unmasked(main);
      expect(lines).toEqual([`::error::${error.join('%0A')}`, '']);
      expect(main.env).toEqual(new Map());
      expect(main.outputs).toEqual(new Map());
      expect(main.state).toEqual(new Map([['tokens', '[]']]));
      expect(readdirSync(job.temp)).toEqual([]);
      for (const text of [main.stdout, main.envFile, main.outputFile, main.summary])
        expect(findLeaks(text, CANARY)).toEqual([]);
    };

    it('names the namespace, the DynamoDB permission, the role and the LeadingKeys condition', async () => {
      deny = (request) => request.operation === 'BatchGetItem';
      const job = newJob(base);
      const main = await job.main(
        { ...inputs, secrets: 'API_KEY\nDB_URL', 'web-identity-token-file': 'true', 'dotenv-file': 'x.env' },
        { ...childEnv, AWS_ENDPOINT_URL_DYNAMODB: fake.endpoint },
      );
      expectRefused(job, main, [
        `access denied: the role ${ROLE} may not call dynamodb:BatchGetItem for namespace ${config.namespace}.`,
        `Allow dynamodb:BatchGetItem in the IAM policy of ${ROLE} on table ${config.table}, with the condition ` +
          `"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${config.namespace}"]} that keeps the role to this namespace.`,
      ]);
      // A denial is not retried.
      expect(fake.requests.filter((r) => r.operation === 'BatchGetItem')).toHaveLength(1);
    });

    it('names the namespace, the KMS permission, the key and the EncryptionContext condition, and decrypts nothing', async () => {
      deny = () => true;
      const job = newJob(base);
      const main = await job.main(
        { ...inputs, 'web-identity-token-file': 'true' },
        { ...childEnv, AWS_ENDPOINT_URL_KMS: fake.endpoint },
      );
      expectRefused(job, main, [
        `access denied: the role ${ROLE} may not call kms:Decrypt for namespace ${config.namespace}.`,
        `Allow kms:Decrypt in the IAM policy of ${ROLE} on key ${config.kmsKeyId}, with the condition ` +
          `"StringEquals": {"kms:EncryptionContext:namespace": "${config.namespace}"} that keeps the role to this ` +
          'namespace (the key policy must let IAM policies grant access).',
      ]);
      expect(new Set(fake.requests.map((r) => r.operation))).toEqual(new Set(['Decrypt', 'GenerateDataKey']));
    });
  });
});
