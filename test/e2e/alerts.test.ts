/**
 * Alerts through the built CLI (issue 10): `egg alerts add/test/list`, `egg proxy serve`
 * raising a signed alert for a burst of refused origins, and `egg tokens usage` showing it,
 * on a local vault and on DynamoDB Local (`--backend aws`, moto for data keys and a fake KMS
 * signer for tokens), with a loopback receiver in this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { EGG_BIN, eggAsync, findLeaks } from '../support/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type FakeKms, startFakeKmsSigner } from '../support/proxy-fake-kms.js';
import { send } from '../support/proxy-http.js';

const CANARY = 'sk-e2e-alerts-canary-91d0c3aa-DO-NOT-LEAK';
const ORIGIN = 'https://app.example.com';

function alertsCli(backend: 'local' | 'aws') {
  describe(`egg alerts and egg tokens usage (built CLI, ${backend})`, () => {
    let base: string;
    let kms: FakeKms | undefined;
    let env: NodeJS.ProcessEnv;
    let upstream: FakeUpstream;
    let receiver: http.Server;
    let hookUrl: string;
    const received: { body: string; signature: string }[] = [];
    let proxy: ChildProcess | undefined;
    let proxyOutput = '';
    const outputs: string[] = [];
    const egg = async (...args: string[]) => {
      const result = await eggAsync(args, env);
      outputs.push(result.stdout, result.stderr);
      return result;
    };

    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), 'egg-alerts-e2e-'));
      env = { ...process.env, FORCE_COLOR: '0', EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
      if (backend === 'aws') {
        // moto has no Ed25519 keys: the fake signs tokens and passes the data-key calls to moto.
        kms = await startFakeKmsSigner({ forward: useTestAws().moto });
        Object.assign(
          env,
          process.env,
          { FORCE_COLOR: '0' },
          {
            EGG_BACKEND: 'aws',
            EGG_TABLE: await createTestTable('egg-alerts'),
            EGG_KMS_KEY_ID: await createTestKmsKey(),
            EGG_SIGNING_KEY_ID: kms.keyArn,
            AWS_ENDPOINT_URL_KMS: kms.endpoint,
          },
        );
      }
      delete env.EGG_DEBUG;
      upstream = await startFakeUpstream();
      receiver = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push({ body, signature: String(req.headers['egg-signature']) });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/egg`;
      const set = spawn(
        process.execPath,
        [EGG_BIN, 'secrets', 'set', 'OPENAI_KEY', '--upstream', upstream.url],
        {
          env,
          stdio: ['pipe', 'ignore', 'ignore'],
        },
      );
      set.stdin!.end(CANARY);
      await new Promise((resolve) => set.once('exit', resolve));
    });
    afterAll(async () => {
      if (proxy !== undefined) {
        const exited = new Promise((resolve) => proxy!.once('exit', resolve));
        proxy.kill('SIGTERM');
        await exited;
      }
      await upstream?.close();
      await new Promise((resolve) => receiver?.close(resolve));
      await kms?.close();
      for (const haystack of [...outputs, proxyOutput]) expect(findLeaks(haystack, CANARY)).toEqual([]);
      rmSync(base, { recursive: true, force: true });
    });

    it('adds a webhook, sends it a signed test alert, and raises one alert for a burst of refused origins', async () => {
      const refused = await egg('alerts', 'add', '--webhook', 'http://hooks.example.com/egg');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('the webhook URL must use https');

      const added = await egg('alerts', 'add', '--webhook', hookUrl, '--json');
      expect(added.code).toBe(0);
      const { secret, id } = JSON.parse(added.stdout) as { secret: string; id: string };
      const verify = (r: { body: string; signature: string }) => {
        const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.signature)!;
        return createHmac('sha256', secret).update(`${t}.${r.body}`).digest('hex') === v1;
      };

      const tested = await egg('alerts', 'test');
      expect(tested.code).toBe(0);
      expect(tested.stdout).toBe(`${id} ${hookUrl}: delivered (1 attempt, last 204)\n`);
      expect(received).toHaveLength(1);
      expect(verify(received[0]!)).toBe(true);
      expect(JSON.parse(received[0]!.body)).toMatchObject({ type: 'egg.alert', rule: 'test', test: true });

      const minted = await egg(
        'tokens',
        'mint',
        '--key',
        'OPENAI_KEY',
        '--origin',
        ORIGIN,
        '--rps',
        '50',
        '--spend',
        '1000',
        '--json',
      );
      const { token, id: tokenId } = JSON.parse(minted.stdout) as { token: string; id: string };
      proxy = spawn(process.execPath, [EGG_BIN, 'proxy', 'serve', '--port', '0'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proxy.stdout!.on('data', (c: Buffer) => (proxyOutput += c.toString()));
      const url = await new Promise<string>((resolve) =>
        proxy!.stderr!.on('data', (c: Buffer) => {
          proxyOutput += c.toString();
          const match = /listening on (http:\/\/\S+)/.exec(proxyOutput);
          if (match) resolve(match[1]!);
        }),
      );
      for (let i = 0; i < 20; i++)
        expect((await send(url, { token, headers: { origin: 'https://evil.example' } })).status).toBe(403);
      const start = performance.now();
      while (received.length < 2 && performance.now() - start < 15_000)
        await new Promise((r) => setTimeout(r, 50));
      expect(received).toHaveLength(2);
      expect(verify(received[1]!)).toBe(true);
      expect(JSON.parse(received[1]!.body)).toMatchObject({
        namespace: 'acme/web',
        tokenId,
        rule: 'refusal-burst',
      });
      expect(received[1]!.body).not.toContain(token);

      const usage = JSON.parse((await egg('tokens', 'usage', '--json')).stdout) as {
        tokens: { id: string }[];
      };
      expect(usage.tokens).toMatchObject([
        {
          id: tokenId,
          requests: 20,
          refusedOrigin: 20,
          clientErrors: 20,
          throttle: { rule: 'refusal-burst', rps: 5 },
        },
      ]);
      const listed = JSON.parse((await egg('alerts', 'list', '--json')).stdout) as {
        channels: unknown[];
        alerts: { rule: string }[];
      };
      expect(listed.channels).toEqual([{ id, kind: 'webhook', url: hookUrl, createdAt: expect.any(String) }]);
      expect(listed.alerts.map((a) => a.rule)).toEqual(['refusal-burst', 'test']);
      // The secret was printed once, by `alerts add`, and nowhere since.
      for (const haystack of [...outputs.filter((o) => o !== added.stdout), proxyOutput])
        expect(haystack).not.toContain(secret.slice(6));
    });

    it('tunes the rules of the namespace, refuses what is not a rule or a setting, and removes a channel', async () => {
      const defaults = [
        'RULE            STATE  SETTINGS',
        'refusal-burst   on     threshold=20',
        'rate-spike      on     factor=10 floor=60 min-windows=3',
        'client-fanout   on     threshold=1',
        'spend-velocity  on     life-fraction=0.25 min-spent-fraction=0.1',
        'throttle        -      rps-fraction=0.1 seconds=900',
      ];
      const rules = await egg('alerts', 'rules', '-n', 'acme/tuned');
      expect([rules.code, rules.stdout]).toEqual([0, `${defaults.join('\n')}\n`]);
      const set = await egg('alerts', 'rules', 'set', 'refusal-burst', 'threshold=5', '-n', 'acme/tuned');
      expect([set.code, set.stdout]).toEqual([
        0,
        `${[defaults[0], 'refusal-burst   on     threshold=5* (20)', ...defaults.slice(2)].join('\n')}\n`,
      ]);
      const off = await egg('alerts', 'rules', 'set', 'rate-spike', '--off', '--json', '-n', 'acme/tuned');
      expect(JSON.parse(off.stdout).rules[1]).toEqual({
        rule: 'rate-spike',
        on: false,
        settings: {
          factor: { value: 10, default: 10 },
          floor: { value: 60, default: 60 },
          'min-windows': { value: 3, default: 3 },
        },
      });
      // Another namespace keeps the defaults.
      expect((await egg('alerts', 'rules')).stdout).toBe(`${defaults.join('\n')}\n`);
      for (const [args, message] of [
        [['nope'], 'there is no anomaly rule "nope"'],
        [['refusal-burst', 'threshold=0'], 'refusal-burst threshold=0 is not allowed'],
        [['throttle', '--off'], 'the throttle cannot be turned off'],
        [['rate-spike'], 'say what to change in rate-spike'],
      ] as const) {
        const refused = await egg('alerts', 'rules', 'set', ...args, '-n', 'acme/tuned');
        expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining(message)]);
      }
      const trail = JSON.parse((await egg('audit', '--json', '-n', 'acme/tuned')).stdout) as {
        action: string;
        targets: string[];
        outcome: string;
      }[];
      expect(trail.map((r) => [r.action, r.targets, r.outcome])).toEqual([
        ['alert.rules.set', ['refusal-burst'], 'threshold=5'],
        ['alert.rules.set', ['rate-spike'], 'off'],
      ]);

      const { id } = JSON.parse(
        (await egg('alerts', 'add', '--webhook', hookUrl, '--json', '-n', 'acme/tuned')).stdout,
      ) as { id: string };
      const removed = await egg('alerts', 'rm', id, '-n', 'acme/tuned');
      expect([removed.code, removed.stdout]).toEqual([0, `Removed alert channel ${id} from acme/tuned.\n`]);
      expect(JSON.parse((await egg('alerts', 'list', '--json', '-n', 'acme/tuned')).stdout).channels).toEqual(
        [],
      );
      const again = await egg('alerts', 'rm', id, '-n', 'acme/tuned');
      expect([again.code, again.stderr]).toEqual([
        2,
        `Error: acme/tuned has no alert channel ${id} (egg alerts list shows the channels and their ids).\n`,
      ]);
    });
  });
}

alertsCli('local');
alertsCli('aws');
