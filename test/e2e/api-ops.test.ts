/**
 * `egg alerts …`, `egg alerts rules …` and `egg audit checkpoint` with `EGG_BACKEND=api`
 * against `egg api serve` (both child processes, real JWTs from a local JWKS issuer): the
 * owner adds, lists, tests and removes channels and tunes rules; a read member lists and is
 * refused every change (403); a non-member is told what a missing namespace is told (404); a
 * write member may have the server sign a checkpoint with its own anchor key. A webhook's
 * secret never comes back from the API, nor shows in its log or the trail.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eggAsync } from '../support/cli.js';
import { type FakeJwks, startFakeJwks } from '../support/fake-jwks.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';

const NS = 'acme/ops';
const PATH = `/v1/namespaces/${NS.replace('/', '%2F')}`;
const HOOK = 'https://egg-alerts.invalid/hook';
let serverHome: string;
let clientHome: string;
let people: FakeJwks;
let serve: ServeProcess;
const tokens: Record<'alice' | 'bob' | 'dave' | 'carol', string> = {
  alice: '',
  bob: '',
  dave: '',
  carol: '',
};
/** Every webhook secret seen, to look for afterwards. */
const secrets: string[] = [];

beforeAll(async () => {
  serverHome = mkdtempSync(join(tmpdir(), 'egg-api-ops-server-'));
  clientHome = mkdtempSync(join(tmpdir(), 'egg-api-ops-client-'));
  people = await startFakeJwks();
  serve = await startServe(
    { EGG_HOME: serverHome },
    ['--issuer', people.issuer, '--audience', 'egg-cli'],
    ['api', 'serve'],
  );
  for (const name of Object.keys(tokens) as (keyof typeof tokens)[])
    tokens[name] = await people.sign({ sub: name, aud: 'egg-cli' });
  const set = await egg(['secrets', 'set', 'PLAIN', '--from-env', 'SOURCE'], 'alice', { SOURCE: 'x' });
  expect(set.code).toBe(0);
  for (const [who, role] of [
    ['bob', 'read'],
    ['dave', 'write'],
  ])
    expect((await egg(['members', 'add', who as string, '--role', role as string], 'alice')).code).toBe(0);
});
afterAll(async () => {
  serve?.child.kill('SIGKILL');
  await people?.close();
  rmSync(serverHome, { recursive: true, force: true });
  rmSync(clientHome, { recursive: true, force: true });
});

function egg(args: string[], who: keyof typeof tokens, extra: NodeJS.ProcessEnv = {}) {
  return eggAsync(args, {
    PATH: process.env.PATH,
    EGG_HOME: clientHome,
    EGG_BACKEND: 'api',
    EGG_NAMESPACE: NS,
    EGG_API_URL: serve.url,
    EGG_API_TOKEN: tokens[who],
    ...extra,
  });
}

/** One raw call to the API, for what the CLI does not show: the status and the body as sent. */
async function call(method: string, tail: string, who: keyof typeof tokens, body?: unknown) {
  const response = await fetch(`${serve.url}${PATH}${tail}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, text: await response.text() };
}

describe('alerts and checkpoints through the API', () => {
  let channel: string;

  it('adds a webhook: the secret is made by the CLI and printed once, and the API never sends it back', async () => {
    const added = await egg(['alerts', 'add', '--webhook', HOOK, '--json'], 'alice');
    expect(added.code).toBe(0);
    const json = JSON.parse(added.stdout) as { id: string; kind: string; url: string; secret: string };
    expect(json).toMatchObject({ namespace: NS, kind: 'webhook', url: HOOK });
    expect(json.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    channel = json.id;
    secrets.push(json.secret);

    // The answer to the call that carried a secret names the channel, never the secret.
    const secret = `whsec_${'A'.repeat(43)}`;
    secrets.push(secret);
    const raw = await call('POST', '/alerts', 'alice', { webhook: HOOK, shape: 'slack', secret });
    expect(raw.status).toBe(201);
    expect(JSON.parse(raw.text)).toEqual({ id: expect.stringMatching(/^wh_/), kind: 'slack', url: HOOK });
    expect(raw.text).not.toContain(secret);

    const refused = await call('POST', '/alerts', 'alice', { webhook: HOOK, secret: 'too-short' });
    expect(refused.status).toBe(400);
    expect(refused.text).not.toContain('too-short');
  });

  it('SSRF: refuses a webhook to the server’s own loopback or a private address', async () => {
    for (const url of [
      'http://127.0.0.1:9/hook',
      'https://localhost/hook',
      'https://[::1]/hook',
      'https://10.0.0.5/hook',
      'https://169.254.169.254/latest',
      'https://2130706433/hook',
    ]) {
      const added = await egg(['alerts', 'add', '--webhook', url], 'alice');
      expect(added).toMatchObject({
        code: 2,
        stderr:
          'Error: the API does not post alerts to its own host or a private address (give the public https:// URL of the receiver).\n',
      });
    }
  });

  it('lists the channels, never a secret, to a read member; the owner tests and removes one', async () => {
    const listed = await egg(['alerts', 'list', '--json'], 'bob');
    expect(listed.code).toBe(0);
    const { channels } = JSON.parse(listed.stdout) as { channels: { id: string; url: string }[] };
    expect(channels.map((c) => c.id)).toContain(channel);
    for (const secret of secrets) expect(listed.stdout).not.toContain(secret);

    const tested = await egg(['alerts', 'test'], 'alice');
    expect(tested.code).toBe(1);
    expect(tested.stdout).toContain(`${channel} ${HOOK}: NOT delivered (3 attempts,`);

    expect(await egg(['alerts', 'rm', channel], 'alice')).toMatchObject({
      code: 0,
      stdout: `Removed alert channel ${channel} from ${NS}.\n`,
    });
    const after = JSON.parse((await egg(['alerts', 'list', '--json'], 'alice')).stdout) as {
      channels: { id: string }[];
    };
    expect(after.channels.map((c) => c.id)).not.toContain(channel);
  });

  it('tunes a rule as the owner, shows it to a read member, and checks each setting on the server', async () => {
    const set = await egg(['alerts', 'rules', 'set', 'refusal-burst', 'threshold=50', '--json'], 'alice');
    expect(set.code).toBe(0);
    const rules = JSON.parse(set.stdout) as {
      rules: { rule: string; settings: Record<string, { value: number }> }[];
    };
    expect(rules.rules.find((r) => r.rule === 'refusal-burst')?.settings.threshold?.value).toBe(50);
    const shown = await egg(['alerts', 'rules'], 'bob');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/refusal-burst +on +.*threshold=50\*/);
    const bad = await call('POST', '/alerts/rules', 'alice', {
      rule: 'refusal-burst',
      settings: { threshold: -1 },
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.message).toBe('refusal-burst threshold=-1 is not allowed');
  });

  it('refuses a read member every change (403), naming the role each needs', async () => {
    const cases: [string[], string][] = [
      [['alerts', 'add', '--webhook', HOOK], 'alerts.add needs admin'],
      [['alerts', 'rm', 'wh_00000000'], 'alerts.rm needs admin'],
      [['alerts', 'test'], 'alerts.test needs admin'],
      [['alerts', 'rules', 'set', 'rate-spike', '--off'], 'alerts.rules.set needs admin'],
      [['audit', 'checkpoint'], 'audit.checkpoint needs write'],
    ];
    for (const [args, needs] of cases) {
      const refused = await egg(args, 'bob');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`Error: your role in ${NS} is read, and ${needs}`);
    }
    expect((await call('POST', '/alerts/test', 'bob')).status).toBe(403);
    expect((await call('POST', '/audit/checkpoint', 'bob')).status).toBe(403);
  });

  it('tells a non-member what a missing namespace is told (404), for every route', async () => {
    for (const [method, tail] of [
      ['GET', '/alerts'],
      ['POST', '/alerts'],
      ['GET', '/alerts/rules'],
      ['POST', '/audit/checkpoint'],
    ] as const) {
      const answer = await call(method, tail, 'carol', method === 'POST' ? {} : undefined);
      expect(answer.status).toBe(404);
      expect(JSON.parse(answer.text).error.message).toBe(
        `namespace ${NS} does not exist, or you are not a member of it`,
      );
    }
    const listed = await egg(['alerts', 'list'], 'carol');
    expect(listed).toMatchObject({ code: 1 });
    expect(listed.stderr).toContain(`Error: namespace ${NS} does not exist, or you are not a member of it`);
  });

  it('has the server sign a checkpoint with its own anchor key for a write member; verify then checks it', async () => {
    const anchored = await egg(['audit', 'checkpoint', '--json'], 'dave');
    expect(anchored.code).toBe(0);
    const checkpoint = JSON.parse(anchored.stdout) as { seq: number; kid: string; created: boolean };
    expect(checkpoint.created).toBe(true);
    // The server's anchor key, under the server's EGG_HOME; the client has none.
    expect(existsSync(join(serverHome, 'anchor-key'))).toBe(true);
    expect(readdirSync(clientHome).filter((file) => file !== 'cache')).toEqual([]);
    const verified = await egg(['audit', 'verify'], 'alice');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`checkpoint`);
    expect(verified.stdout).not.toContain('no checkpoint');
    const trail = JSON.parse((await egg(['audit', '--json'], 'alice')).stdout) as {
      action: string;
      actor: string;
      outcome: string;
    }[];
    // The checkpoint is dave's; bob's and carol's refused attempts are in the trail too.
    expect(
      trail.filter((r) => r.action === 'audit.checkpoint').map((r) => [r.actor.split('|')[1], r.outcome]),
    ).toEqual([
      ['bob', 'access-denied'],
      ['bob', 'access-denied'],
      ['carol', 'namespace-not-found'],
      ['dave', 'ok'],
    ]);
    for (const action of ['alert.channel.add', 'alert.channel.rm', 'alert.test', 'alert.rules.set'])
      expect(trail.map((r) => r.action)).toContain(action);
    for (const secret of secrets) expect(JSON.stringify(trail)).not.toContain(secret);
  });

  it('never logged a webhook secret on the server', () => {
    for (const output of [serve.stdout(), serve.stderr()])
      for (const secret of secrets) expect(output).not.toContain(secret);
  });
});
