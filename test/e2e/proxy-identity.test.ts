/**
 * One identity per process (issue 13 item 6): `egg proxy serve` (the built CLI) on the aws
 * backend after `egg login` signs every AWS request it makes, through every adapter (the
 * vault's store and keyring, the token store's revocation polls and spend reservations, the
 * signer's public key), with the login session's credentials. The SDK's default chain here
 * holds other credentials (a shared credentials file), so an adapter opened without the
 * session shows up as a request signed with them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVault, openTokens } from '../../src/backends/open-backend.js';
import { resolveConfig } from '../../src/config.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { EGG_BIN, eggAsync } from '../support/cli.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type FakeKms, startFakeKmsSigner } from '../support/proxy-fake-kms.js';
import { send } from '../support/proxy-http.js';
import { type SigV4Recorder, startSigV4Recorder } from '../support/sigv4-recorder.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-people';
const NAMESPACE = 'acme/identity';
/** What the SDK's default chain finds in this test's shared credentials file. */
const DEFAULT_CHAIN_KEY = 'AKIADEFAULTCHAIN0001';

/** `egg proxy serve` with exactly `env` (support/proxy-serve.ts adds this process's, whose credentials win over a login). */
function serve(env: NodeJS.ProcessEnv): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [EGG_BIN, 'proxy', 'serve', '--port', '0'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve({ url: match[1] as string, stop });
    });
    void exited.then(() => reject(new Error(`proxy exited: ${stderr}`)));
  });
}

describe('egg proxy serve after egg login (aws backend)', () => {
  let issuer: FakeIssuer;
  let sts: FakeSts;
  let kms: FakeKms;
  let upstream: FakeUpstream;
  let dynamodb: SigV4Recorder;
  let kmsRecorder: SigV4Recorder;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let token: string;

  beforeAll(async () => {
    const aws = useTestAws();
    const [table, keyArn] = await Promise.all([createTestTable('egg-identity'), createTestKmsKey()]);
    [issuer, kms, upstream] = await Promise.all([
      startFakeIssuer({ interval: 1, approveAfter: 1 }),
      startFakeKmsSigner({ forward: aws.moto }),
      startFakeUpstream(),
    ]);
    sts = await startFakeSts({
      providers: [{ issuer: issuer.issuer, jwksUrl: issuer.jwksUri, audiences: [issuer.clientId] }],
      roles: [{ arn: ROLE, sub: ['user-*'], aud: issuer.clientId }],
    });
    [dynamodb, kmsRecorder] = await Promise.all([
      startSigV4Recorder(aws.dynamodb),
      startSigV4Recorder(kms.endpoint),
    ]);
    base = mkdtempSync(join(tmpdir(), 'egg-proxy-identity-'));
    const settings = {
      EGG_BACKEND: 'aws',
      EGG_TABLE: table,
      EGG_KMS_KEY_ID: keyArn,
      EGG_SIGNING_KEY_ID: kms.keyArn,
      EGG_NAMESPACE: NAMESPACE,
    };
    // Seeded with the suite's own credentials, straight to the services (not recorded).
    process.env.AWS_ENDPOINT_URL_KMS = kms.endpoint;
    const config = resolveConfig({ env: settings, cwd: base, home: join(base, 'seed') });
    const seed = await openVault(config, { actor: 'test' });
    await seed.vault.set('OPENAI_KEY', Buffer.from('sk-identity-canary'), { upstream: upstream.url });
    await seed.close();
    const minter = await openTokens(config, { actor: 'test' });
    try {
      ({ token } = await minter.tokens.mint({
        key: 'OPENAI_KEY',
        origins: [],
        allowNoOrigin: true,
        ttlSeconds: 600,
        rps: 10,
        spend: 100,
      }));
    } finally {
      await minter.close();
    }
    const credentialsFile = join(base, 'aws-credentials');
    writeFileSync(
      credentialsFile,
      `[default]\naws_access_key_id = ${DEFAULT_CHAIN_KEY}\naws_secret_access_key = not-the-session\n`,
    );
    env = {
      PATH: process.env.PATH,
      HOME: base,
      FORCE_COLOR: '0',
      EGG_HOME: join(base, 'home'),
      EGG_TOKEN_STORE: 'file',
      ...settings,
      AWS_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(base, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
      AWS_ENDPOINT_URL_KMS: kmsRecorder.endpoint,
    };
    const login = await eggAsync(
      ['login', '--issuer', issuer.issuer, '--client-id', issuer.clientId, '--role-arn', ROLE, '--json'],
      env,
    );
    expect(login.code, login.stderr).toBe(0);
  });

  afterAll(async () => {
    await Promise.all([
      issuer?.close(),
      sts?.close(),
      kms?.close(),
      upstream?.close(),
      dynamodb?.close(),
      kmsRecorder?.close(),
    ]);
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });

  it('signs every AWS request of every adapter with the login session, never the default chain', async () => {
    const proxy = await serve(env);
    try {
      const answer = await send(proxy.url, { token, path: '/v1/echo' });
      expect(answer.status, answer.body).toBe(200);
    } finally {
      await proxy.stop();
    }
    const session = sts.issued.map((c) => c.accessKeyId);
    expect(session).toHaveLength(1);
    const operations = (recorder: SigV4Recorder) => new Set(recorder.requests.map((r) => r.operation));
    // Every adapter was used: the signer's key, the vault (items, data keys, audit), the token
    // store (the spend reservation; its revocation polls may or may not have come round yet).
    expect([...operations(kmsRecorder)]).toEqual(expect.arrayContaining(['GetPublicKey', 'Decrypt']));
    expect([...operations(dynamodb)]).toEqual(
      expect.arrayContaining(['UpdateItem', 'BatchGetItem', 'PutItem']),
    );
    const signers = [...dynamodb.requests, ...kmsRecorder.requests].map((r) => r.accessKeyId);
    expect(new Set(signers)).toEqual(new Set(session));
  });

  it('egg doctor checks the credentials the commands use: the login session, not the default chain', async () => {
    const result = await eggAsync(['doctor'], env);
    const [session] = sts.issued.map((c) => c.accessKeyId);
    expect(result.stdout).toContain(`ok    AWS credentials: found (access key ${session}`);
    expect(result.stdout).not.toContain(DEFAULT_CHAIN_KEY);
  });
});
