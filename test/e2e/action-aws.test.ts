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
import { openAwsBackend } from '../../src/backends/aws.js';
import { createKmsClient } from '../../src/aws/clients.js';
import type { EggConfig } from '../../src/config.js';
import { nullLogger } from '../../src/log.js';
import { KmsSigner } from '../../src/tokens/kms-signer.js';
import { openTokens } from '../../src/backends/open-backend.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';
import { Vault } from '../../src/vault/vault.js';
import { commandData, type Job, newJob, type StepResult, spawnNode } from '../support/action-runner.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { findLeaks } from '../support/cli.js';
import { type FakeAws, type FakeRequest, startFakeAws } from '../support/fake-aws.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';
import { type FakeKms, startFakeKmsSigner } from '../support/proxy-fake-kms.js';

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
    const backend = await openAwsBackend(config, { actor: 'test' }, { logger: nullLogger });
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

    const backend = await openAwsBackend(config, { actor: 'test' }, { logger: nullLogger });
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
          `"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${config.namespace}", "audit#${config.namespace}"]} ` +
          'that keeps the role to this namespace (docs/dynamodb.md: which partition holds what).',
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

  describe('mint-tokens', () => {
    const PROVIDER_KEY = 'sk-aws-mint-canary-8c4f2e91-DO-NOT-LEAK';
    const TAGS = { run: '4242', attempt: '1', repo: 'acme/web' };
    let kms: FakeKms;
    let tokenConfig: EggConfig;
    let env: NodeJS.ProcessEnv;
    let mintInputs: Record<string, string>;

    beforeAll(async () => {
      // moto has no Ed25519 keys: the fake answers Sign and GetPublicKey and passes the data-key calls to moto.
      kms = await startFakeKmsSigner({ forward: useTestAws().moto });
      tokenConfig = { ...config, namespace: `${config.namespace}-tokens`, signingKeyId: kms.keyArn };
      const backend = await openAwsBackend(tokenConfig, { actor: 'test' }, { logger: nullLogger });
      const vault = new Vault({ ...backend, namespace: tokenConfig.namespace, actor: 'test' });
      await vault.set('OPENAI_KEY', Buffer.from(PROVIDER_KEY), { upstream: 'https://api.openai.example' });
      await vault.set('OTHER_KEY', Buffer.from(`other-${PROVIDER_KEY}`), {
        upstream: 'https://api.other.example',
      });
      backend.keyring.close();
      await backend.store.close();
      env = {
        ...childEnv,
        AWS_ENDPOINT_URL_KMS: kms.endpoint,
        // Nothing for the SDK's default chain to find: every client must get the STS session.
        AWS_SHARED_CREDENTIALS_FILE: join(base, 'no-credentials'),
        AWS_CONFIG_FILE: join(base, 'no-config'),
      };
      mintInputs = {
        ...inputs,
        namespace: tokenConfig.namespace,
        secrets: 'OPENAI_KEY',
        'export-env': 'false',
        'signing-key-id': kms.keyArn,
        'mint-tokens': [
          'OPENAI_KEY origins=https://app.example.com ttl=30m rps=5 burst=10 spend=1000',
          'OTHER_KEY origins=https://other.example.com ttl=2h rps=1 spend=50 cost=5',
        ].join('\n'),
      };
    });
    afterAll(() => kms?.close());

    /** The job's tokens as `egg tokens list` sees them in the table. */
    const listed = async (ids: readonly string[]) => {
      const { tokens, close } = await openTokens(tokenConfig, { actor: 'test' });
      try {
        // In the order of `ids` (list orders by iat, and both were minted in one second).
        const listed = await tokens.list();
        return ids.map((id) => listed.find((t) => t.id === id)).filter((t) => t !== undefined);
      } finally {
        await close();
      }
    };

    /** Every secret of the job, in every form, in every place a later step or a log reader could see. */
    const expectNoLeaks = (steps: StepResult[], secrets: string[], allowedInOutputs: string[] = []) => {
      for (const step of steps) {
        const places = [
          unmasked(step).join('\n'),
          step.stderr,
          step.summary,
          step.envFile,
          [...step.state.values()].join('\n'),
        ];
        for (const secret of secrets) {
          for (const text of places) expect(findLeaks(text, secret)).toEqual([]);
          if (!allowedInOutputs.includes(secret)) expect(findLeaks(step.outputFile, secret)).toEqual([]);
        }
      }
    };

    it('mints with the KMS key and the STS session; the post step re-assumes the role and revokes them', async () => {
      const job = newJob(base);
      const calls = sts.calls.length;
      const main = await job.main(mintInputs, env);
      expect(main.stderr).toBe('');
      expect(main.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([]);
      expect(main.code).toBe(0);
      const session = sts.issued.at(-1) as FakeSts['issued'][number];

      const openai = main.outputs.get('token-OPENAI_KEY') as string;
      const other = main.outputs.get('token-OTHER_KEY') as string;
      expect(openai).toMatch(/^egg_/);
      expect(other).toMatch(/^egg_/);

      // Masked: every token's ::add-mask:: comes before any line that is not a mask.
      const lines = main.stdout.split('\n').filter((line) => line !== '');
      const firstOther = lines.findIndex((line) => !line.startsWith('::add-mask::'));
      const masks = lines.slice(0, firstOther).map((line) => commandData(line, 'add-mask'));
      for (const token of [openai, other]) {
        expect(masks).toContain(token);
        expect(masks).toContain(Buffer.from(token).toString('base64'));
        for (const line of lines.slice(firstOther)) expect(line).not.toContain(token);
      }

      // Signed by the KMS key, with the step's STS session (the child has no other credentials).
      expect(kms.calls.filter((op) => op === 'Sign')).toHaveLength(2);
      expect(new Set(kms.signers)).toEqual(new Set([session.accessKeyId]));
      const signer = new KmsSigner({
        client: await createKmsClient({ endpoint: kms.endpoint }),
        keyId: kms.keyArn,
        ownsClient: true,
      });
      const verifier = new TokenVerifier({ publicKey: await signer.publicKey() });
      signer.close();
      const a = await verifier.verify(openai);
      const b = await verifier.verify(other);
      if (!a.ok || !b.ok) throw new Error('a minted token did not verify with the KMS public key');
      expect(a.claims).toMatchObject({
        sub: tokenConfig.namespace,
        key: 'OPENAI_KEY',
        rps: 5,
        burst: 10,
        tags: TAGS,
      });
      expect(b.claims).toMatchObject({ key: 'OTHER_KEY', spend: 50, cost: 5, tags: TAGS });

      // The ids in the state, one by one; the vault by name only.
      const ids = [a.claims.jti, b.claims.jti];
      expect(JSON.parse(main.state.get('tokens') as string)).toEqual(ids);
      expect(main.outputs.get('token-ids')).toBe(ids.join(','));
      expect(JSON.parse(main.state.get('token-vault') as string)).toEqual({
        backend: 'aws',
        region: 'us-east-1',
        table: tokenConfig.table,
        namespace: tokenConfig.namespace,
        roleArn: ROLE,
        audience: 'sts.amazonaws.com',
      });
      // The token records in the table, tagged with the run.
      const before = await listed(ids);
      expect(before.map((t) => [t.id, t.status, t.tags])).toEqual([
        [ids[0], 'active', TAGS],
        [ids[1], 'active', TAGS],
      ]);

      const kmsCalls = kms.calls.length;
      const post = await job.post(env);
      expect(post).toMatchObject({ code: 0, stderr: '' });
      // Its own OIDC token, masked first; then the revocation.
      const postLines = post.stdout.split('\n');
      expect(commandData(postLines[0] as string, 'add-mask')).toMatch(/^eyJ/);
      expect(postLines.slice(1)).toEqual([
        `Revoked 2 tokens minted by this job in ${tokenConfig.namespace}.`,
        '',
      ]);
      // Its own STS exchange (the main step's credentials were never saved), and no KMS at all.
      expect(sts.calls.slice(calls)).toEqual([
        { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'ok' },
        { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'ok' },
      ]);
      expect(kms.calls.length).toBe(kmsCalls);
      const after = await listed(ids);
      expect(after.map((t) => [t.id, t.status])).toEqual([
        [ids[0], 'revoked'],
        [ids[1], 'revoked'],
      ]);

      const credentials = sts.issued.slice(-2).flatMap((c) => [c.secretAccessKey, c.sessionToken]);
      expectNoLeaks([main, post], [PROVIDER_KEY, openai, other, ...credentials], [openai, other]);
    });

    it('warns with the ids and the revoke command when STS refuses the post step, and still succeeds', async () => {
      const job = newJob(base);
      const main = await job.main(mintInputs, env);
      expect(main).toMatchObject({ code: 0, stderr: '' });
      const ids = JSON.parse(main.state.get('tokens') as string) as string[];
      expect(ids).toHaveLength(2);
      const tokens = [main.outputs.get('token-OPENAI_KEY'), main.outputs.get('token-OTHER_KEY')] as string[];
      const calls = sts.calls.length;

      sts.failNext(1, 403, 'AccessDenied');
      const post = await job.post(env);
      expect(post).toMatchObject({ code: 0, stderr: '' });
      expect(sts.calls.slice(calls)).toEqual([
        { roleArn: ROLE, sessionName: 'egg-4242-1', durationSeconds: 900, outcome: 'AccessDenied' },
      ]);
      expect(unmasked(post)).toEqual([
        `::warning::could not revoke the 2 token(s) this job minted in ${tokenConfig.namespace}: ` +
          `STS refused to let this job assume ${ROLE}: AccessDenied.%0A` +
          `Revoke them with \`EGG_TABLE=${tokenConfig.table} egg tokens revoke --backend aws ` +
          `--namespace ${tokenConfig.namespace} --tag run=4242\` (ids: ${ids.join(', ')}); ` +
          'otherwise they stay valid until they expire.',
        '',
      ]);
      expect((await listed(ids)).map((t) => t.status)).toEqual(['active', 'active']);

      const credentials = sts.issued.slice(-1).flatMap((c) => [c.secretAccessKey, c.sessionToken]);
      expectNoLeaks([main, post], [PROVIDER_KEY, ...tokens, ...credentials], tokens);

      // What the warning says to run does it.
      const { tokens: revoker, close } = await openTokens(tokenConfig, { actor: 'test' });
      try {
        await revoker.revoke([], { run: '4242' });
      } finally {
        await close();
      }
      expect((await listed(ids)).map((t) => t.status)).toEqual(['revoked', 'revoked']);
    });
  });
});
