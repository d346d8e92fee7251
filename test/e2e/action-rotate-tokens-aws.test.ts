/**
 * The bundled Action's `rotate-tokens` on the aws backend (DynamoDB Local, moto's KMS behind
 * the Ed25519 fake, the loopback OIDC token service and STS), with a running proxy on the same
 * table: the successor is signed with the step's STS session, masked, set as token-NAME and
 * works at once; the old token works through its grace and is refused after it (the proxy's
 * clock is moved, nothing waits); the post step leaves the successor alive; an unknown id
 * fails the step before anything is rotated. action-rotate-tokens.test.ts is the local twin.
 * `npm run package` must have built dist/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKmsClient } from '../../src/aws/clients.js';
import { KmsSigner } from '../../src/tokens/kms-signer.js';
import type { MintedToken, TokenListEntry } from '../../src/tokens/tokens.js';
import { useTestAws } from '../support/aws.js';
import { commandData, newJob, type StepResult } from '../support/action-runner.js';
import { findLeaks } from '../support/cli.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type FakeKms, startFakeKmsSigner } from '../support/proxy-fake-kms.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  NAMESPACE,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-release';
const CANARY = 'sk-rotate-aws-canary-3b7e90c2-DO-NOT-LEAK';

/** Lines of stdout that are not `::add-mask::` commands. */
const unmasked = (step: StepResult) =>
  step.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));

describe.skipIf(inject('aws') === null)(
  'the Action rotates shipped tokens (aws backend, running proxy)',
  () => {
    let base: string;
    let upstream: FakeUpstream;
    let kms: FakeKms;
    let oidc: FakeOidc;
    let sts: FakeSts;
    let world: ProxyWorld;
    let proxy: TestProxy;
    let env: NodeJS.ProcessEnv;
    let inputs: (rotate: string) => Record<string, string>;
    /** How far ahead of the wall clock the proxy's clock runs. */
    let offsetMs = 0;

    beforeAll(async () => {
      const endpoints = useTestAws();
      base = mkdtempSync(join(tmpdir(), 'egg-action-rotate-aws-'));
      upstream = await startFakeUpstream();
      // moto has no Ed25519 keys: the fake answers Sign and GetPublicKey and passes the data-key calls to moto.
      kms = await startFakeKmsSigner({ forward: endpoints.moto });
      const signer = new KmsSigner({
        client: await createKmsClient({ endpoint: kms.endpoint }),
        keyId: kms.keyArn,
        ownsClient: true,
      });
      world = await createWorld('dynamodb', { signer });
      await world.vault.set(KEY_NAME, Buffer.from(CANARY), { upstream: upstream.url });
      await world.vault.set('PLAIN', Buffer.from(`plain-${CANARY}`));
      proxy = await startTestProxy(world, { clock: () => Date.now() + offsetMs });

      oidc = await startFakeOidc();
      sts = await startFakeSts({
        providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
        roles: [{ arn: ROLE, sub: ['repo:acme/web:*'], aud: 'sts.amazonaws.com' }],
      });
      // No AWS_ACCESS_KEY_ID and nothing for the default chain: the only credentials are STS's.
      env = {
        ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
        AWS_ENDPOINT_URL_STS: sts.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
        AWS_ENDPOINT_URL_KMS: kms.endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SHARED_CREDENTIALS_FILE: join(base, 'no-credentials'),
        AWS_CONFIG_FILE: join(base, 'no-config'),
      };
      const names = world.aws as NonNullable<ProxyWorld['aws']>;
      inputs = (rotate) => ({
        'role-to-assume': ROLE,
        'aws-region': 'us-east-1',
        table: names.table,
        'kms-key-id': names.kmsKeyId,
        namespace: NAMESPACE,
        secrets: 'PLAIN',
        'export-env': 'false',
        'signing-key-id': kms.keyArn,
        'rotate-tokens': rotate,
      });
    });
    afterAll(async () => {
      await proxy?.close();
      await world?.close();
      await Promise.all([upstream?.close(), kms?.close(), oidc?.close(), sts?.close()]);
      if (base !== undefined) rmSync(base, { recursive: true, force: true });
    });

    /** A release's token, minted as `egg tokens mint` mints it (signed by the KMS key). */
    const ship = (release: string): Promise<MintedToken> =>
      world.tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 7200,
        rps: 50,
        spend: 500,
        tags: { release },
      });
    const listed = (): Promise<TokenListEntry[]> => world.tokens.list();
    const call = async (token: string) =>
      (await send(proxy.url, { token, headers: { origin: APP_ORIGIN } })).status;
    /** Move the proxy's clock, and let it read the store as of then. */
    const advance = async (seconds: number) => {
      offsetMs += seconds * 1000;
      await proxy.watcher.pollNow();
    };

    it('signs the successor with the STS session; it works at once, the old token through the grace only, and the post step leaves it alive', async () => {
      const old = await ship('2.0');
      await proxy.watcher.pollNow();
      expect(await call(old.token)).toBe(200);

      const job = newJob(base);
      const signs = kms.signers.length;
      const main = await job.main(inputs(`WEB_TOKEN=${old.id} grace=5m`), env);
      expect(main.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([]);
      expect(main).toMatchObject({ code: 0, stderr: '' });
      const session = sts.issued.at(-1) as FakeSts['issued'][number];
      // Signed (and the key read) with the step's own STS credentials: the child has no others.
      expect(new Set(kms.signers.slice(signs))).toEqual(new Set([session.accessKeyId]));

      const successor = main.outputs.get('token-WEB_TOKEN') as string;
      expect(successor).toMatch(/^egg_/);
      const after = await listed();
      const next = after.find((t) => t.tags.release === '2.0' && t.id !== old.id);
      expect(next).toMatchObject({
        status: 'active',
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        rps: 50,
        spend: 500,
      });
      expect(main.outputs.get('rotated-token-ids')).toBe(`${old.id}:${next?.id}`);
      expect(after.find((t) => t.id === old.id)?.revokesAt).toBeDefined();

      // Masked before any line that is not a mask, and in no other line, file or summary.
      const lines = main.stdout.split('\n').filter((line) => line !== '');
      const firstOther = lines.findIndex((line) => !line.startsWith('::add-mask::'));
      expect(lines.slice(0, firstOther).map((line) => commandData(line, 'add-mask'))).toContain(successor);
      for (const text of [lines.slice(firstOther).join('\n'), main.summary, main.envFile])
        expect(text).not.toContain(successor);

      await proxy.watcher.pollNow();
      expect(await call(successor)).toBe(200);
      expect(await call(old.token)).toBe(200);

      const post = await job.post(env);
      expect(post).toMatchObject({ code: 0, stderr: '' });
      expect(unmasked(post)).toContain('No tokens were minted by this job; nothing to revoke.');
      const kept = (await listed()).find((t) => t.id === next?.id);
      expect(kept).toMatchObject({ status: 'active', tags: { release: '2.0' } });
      expect(kept?.revokesAt).toBeUndefined();

      await advance(240);
      expect(await call(old.token)).toBe(200);
      await advance(61);
      const before = upstream.requests.length;
      expect(await call(old.token)).toBe(401);
      expect(upstream.requests.length).toBe(before);
      expect(await call(successor)).toBe(200);

      const credentials = sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]);
      for (const step of [main, post])
        for (const text of [unmasked(step).join('\n'), step.stderr, step.summary, step.envFile])
          for (const secret of [CANARY, successor, old.token, ...credentials])
            expect(findLeaks(text, secret)).toEqual([]);
    });

    it('fails an unknown id before any rotation or output, naming it', async () => {
      const live = await ship('2.1');
      const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
      const count = (await listed()).length;
      const main = await newJob(base).main(inputs(`A=${live.id}\nB=${unknown}`), env);
      expect(main).toMatchObject({ code: 1, stderr: '' });
      expect(main.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([
        `::error::rotate-tokens B: no token ${unknown} was minted in ${NAMESPACE}.%0ASee the active tokens with \`egg tokens list\`; no token was rotated.`,
      ]);
      expect(main.outputs).toEqual(new Map());
      expect((await listed()).length).toBe(count);
      expect((await listed()).find((t) => t.id === live.id)?.revokesAt).toBeUndefined();
    });
  },
);
