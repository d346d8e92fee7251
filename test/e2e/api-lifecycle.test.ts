/**
 * The lifecycle commands through the service-mode API (issue 16, items 1 and 4): `secrets
 * rollback|import|keep|seal`, `killswitch` and `tokens usage|unthrottle`, run by the built CLI
 * with `EGG_BACKEND=api` against `egg api serve` (a local JWKS issuer signing the people's
 * tokens), each printing what the same command prints on a local vault given the same
 * inputs. A member with the role read is refused each write (403), and the refusal is in the
 * trail; a non-member is told on each new route what a missing namespace is told (404).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { usageOn } from '../../src/backends/open-backend.js';
import { seal } from '../../src/crypto/seal.js';
import { emptyCounts, windowOf } from '../../src/tokens/usage-store.js';
import { eggAsync, findLeaks } from '../support/cli.js';
import { type FakeJwks, startFakeJwks } from '../support/fake-jwks.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';

const NS = 'acme/app';
const V1 = 'canary-lifecycle-v1-5d0e';
const V2 = 'canary-lifecycle-v2-a71c';
const PROVIDER_KEY = 'sk-canary-lifecycle-sealed-3f9b';
const UPSTREAM = 'https://api.openai.com';
let base: string;
let serverHome: string;
let localHome: string;
let people: FakeJwks;
let serve: ServeProcess;
let alice: string;
let bob: string;
let carol: string;
let dave: string;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'egg-api-lifecycle-'));
  serverHome = join(base, 'server');
  localHome = join(base, 'local');
  people = await startFakeJwks();
  serve = await startServe(
    { EGG_HOME: serverHome },
    ['--issuer', people.issuer, '--audience', 'egg-cli'],
    ['api', 'serve'],
  );
  const sign = (sub: string) => people.sign({ sub, aud: 'egg-cli' });
  [alice, bob, carol, dave] = await Promise.all([sign('alice'), sign('bob'), sign('carol'), sign('dave')]);
});
afterAll(async () => {
  serve?.child.kill('SIGKILL');
  await people?.close();
  rmSync(base, { recursive: true, force: true });
});

type Result = { code: number | null; stdout: string; stderr: string };

/** `egg …args` through the API as the holder of `token`. */
function api(args: string[], token = alice, extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  return eggAsync(args, {
    PATH: process.env.PATH,
    EGG_HOME: join(base, 'client'),
    EGG_BACKEND: 'api',
    EGG_NAMESPACE: NS,
    EGG_API_URL: serve.url,
    EGG_API_TOKEN: token,
    ...extra,
  });
}

/** `egg …args` on a local vault of its own. */
function local(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> {
  return eggAsync(args, {
    PATH: process.env.PATH,
    EGG_HOME: localHome,
    EGG_BACKEND: 'local',
    EGG_NAMESPACE: NS,
    ...extra,
  });
}

/** The same command on both backends: what the API's prints, once checked equal to the local one's. */
async function both(args: string[], extra: NodeJS.ProcessEnv = {}, same = (text: string) => text) {
  const [remote, here] = await Promise.all([api(args, alice, extra), local(args, extra)]);
  expect({ ...remote, stdout: same(remote.stdout), stderr: same(remote.stderr) }).toEqual({
    ...here,
    stdout: same(here.stdout),
    stderr: same(here.stderr),
  });
  for (const value of [V1, V2, PROVIDER_KEY]) expect(remote.stderr).not.toContain(value);
  return remote;
}

/** A file of `text` under the test's directory. */
function file(name: string, text: string): string {
  const path = join(base, name);
  writeFileSync(path, text);
  return path;
}

const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g;
const TOKEN_ID = /[A-Za-z0-9_-]{22}/g;
const normal = (text: string) => text.replace(TIME, '<time>').replace(TOKEN_ID, '<id>');

describe('the lifecycle commands with EGG_BACKEND=api', () => {
  it('rolls a secret back, as the local vault does', async () => {
    await both(['secrets', 'set', 'DB_URL', '--from-env', 'SOURCE'], { SOURCE: V1 });
    await both(['secrets', 'set', 'DB_URL', '--from-env', 'SOURCE'], { SOURCE: V2 });
    const rolled = await both(['secrets', 'rollback', 'DB_URL', '--to', '1']);
    expect(rolled).toMatchObject({ code: 0, stdout: 'Rolled DB_URL in acme/app back to rev 1, as rev 3.\n' });
    expect(await both(['secrets', 'get', 'DB_URL'])).toMatchObject({ code: 0, stdout: V1 });
    const json = await both(['secrets', 'rollback', 'DB_URL', '--to', '2', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ name: 'DB_URL', namespace: NS, from: 2, rev: 4 });
    expect(await both(['secrets', 'rollback', 'DB_URL', '--to', '4'])).toMatchObject({
      code: 2,
      stderr:
        'Error: rev 4 is already the current value of DB_URL (see its versions with `egg secrets history DB_URL`).\n',
    });
    const history = JSON.parse((await api(['secrets', 'history', 'DB_URL', '--json'])).stdout) as {
      versions: { rev: number; actor: string }[];
    };
    expect(history.versions[0]).toMatchObject({ rev: 4, actor: `${people.issuer}|alice` });
  });

  it('imports a file, dry run first, all or nothing, as the local vault does', async () => {
    const dotenv = file('first.env', `DB_URL=${V2}\nREDIS_URL=redis://cache\n`);
    const dry = await both(['secrets', 'import', dotenv, '--dry-run']);
    expect(dry.stdout).toBe(
      'Would import 2 secrets (dotenv) into acme/app:\n  add: REDIS_URL\n  change: -\n  leave alone: DB_URL\n',
    );
    const done = await both(['secrets', 'import', dotenv, '--json']);
    expect(JSON.parse(done.stdout)).toEqual({
      namespace: NS,
      format: 'dotenv',
      added: ['REDIS_URL'],
      changed: [],
      unchanged: ['DB_URL'],
    });
    const refused = await both(['secrets', 'import', file('bad.env', 'NEW_ONE=x\n1BAD=y\n')]);
    expect(refused.code).not.toBe(0);
    expect((await both(['secrets', 'list', '--json'], {}, normal)).stdout).not.toContain('NEW_ONE');
    expect(await both(['secrets', 'get', 'REDIS_URL'])).toMatchObject({ code: 0, stdout: 'redis://cache' });
  });

  it('refuses an import larger than one request, whole, with a hint to split it', async () => {
    const big = ['A', 'B', 'C'].map((n) => `BIG_${n}=${n.repeat(50_000)}`).join('\n');
    const result = await api(['secrets', 'import', file('big.env', `${big}\n`)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^Error: the import is \d+ bytes as the API's JSON, more than the 131072 it takes in one request; nothing was imported \(split the file into smaller imports \(each one is all or nothing\)\)\.\n$/,
    );
    expect((await api(['secrets', 'list'])).stdout).not.toContain('BIG_');
  });

  it('shows and sets the versions kept, as the local vault does', async () => {
    expect((await both(['secrets', 'keep'])).stdout).toBe(
      'acme/app keeps 10 earlier versions of each secret.\n',
    );
    expect((await both(['secrets', 'keep', '1'])).stdout).toBe(
      'acme/app keeps 1 earlier version of each secret.\n',
    );
    expect(JSON.parse((await both(['secrets', 'keep', '--json'])).stdout)).toEqual({
      namespace: NS,
      versionsKept: 1,
    });
    expect(await both(['secrets', 'keep', '51'])).toMatchObject({ code: 2 });
  });

  it('seals a provider key in the CLI, so the server stores only the sealed blob, as the local vault does', async () => {
    const key = await both(['secrets', 'seal', '--public-key', '--json'], {}, (text) =>
      text.replace(/"(kid|spki)": "[^"]+"/g, '"$1": "…"'),
    );
    const publicKey = JSON.parse(key.stdout) as { namespace: string; alg: string; kid: string; spki: string };
    expect(publicKey).toMatchObject({ namespace: NS, alg: 'RSA-OAEP-256+A256GCM' });
    const sealed = await both(
      ['secrets', 'seal', 'OPENAI_KEY', '--upstream', UPSTREAM, '--from-env', 'KEY'],
      {
        KEY: PROVIDER_KEY,
      },
    );
    expect(sealed.stdout).toBe(
      `Sealed OPENAI_KEY in acme/app (rev 1, pinned to ${UPSTREAM}); its first use unseals it.\n`,
    );
    // Nothing on the server held the key before its first use: not the vault file, not its log.
    const stored = Buffer.concat(
      ['vault.db', 'vault.db-wal'].map((name) => {
        try {
          return readFileSync(join(serverHome, name));
        } catch {
          return Buffer.alloc(0);
        }
      }),
    );
    expect(findLeaks(stored, PROVIDER_KEY)).toEqual([]);
    expect(findLeaks(serve.stdout() + serve.stderr(), PROVIDER_KEY)).toEqual([]);
    // Its first read, through the API, unseals it.
    expect(await both(['secrets', 'get', 'OPENAI_KEY'])).toMatchObject({ code: 0, stdout: PROVIDER_KEY });

    // A blob sealed elsewhere to the API's key is stored as it came.
    const blob = await seal({
      publicKey,
      namespace: NS,
      name: 'OTHER_KEY',
      value: Buffer.from(`${PROVIDER_KEY}-other`),
    });
    const imported = await api([
      'secrets',
      'seal',
      'OTHER_KEY',
      '--upstream',
      UPSTREAM,
      '--import',
      file('sealed.json', JSON.stringify(blob)),
    ]);
    expect(imported).toMatchObject({
      code: 0,
      stdout: `Sealed OTHER_KEY in acme/app (rev 1, pinned to ${UPSTREAM}); its first use unseals it.\n`,
    });
    expect((await api(['secrets', 'get', 'OTHER_KEY'])).stdout).toBe(`${PROVIDER_KEY}-other`);
  });

  it('shows token usage with its throttle and lifts the throttle, as the local vault does', async () => {
    const mint = [
      'tokens',
      'mint',
      '--key',
      'OPENAI_KEY',
      '--origin',
      'https://app.example.com',
      '--rps',
      '5',
      '--spend',
      '100',
      '--json',
    ];
    const [remote, here] = await Promise.all([api(mint), local(mint)]);
    const ids = [remote, here].map((r) => (JSON.parse(r.stdout) as { id: string }).id);
    expect(await both(['tokens', 'usage'], {}, normal)).toMatchObject({
      code: 0,
      stdout: 'No token usage in acme/app in the last 1h.\n',
    });
    // What a proxy would have counted, and the throttle an anomaly rule would have set.
    const now = Math.floor(Date.now() / 1000);
    for (const [home, id] of [
      [serverHome, ids[0]],
      [localHome, ids[1]],
    ] as const) {
      const backend = openLocalBackend(home, { busyTimeoutMs: 5000, lockWaitMs: 5000 });
      try {
        const usage = await usageOn(backend);
        await usage.addUsage([
          { namespace: NS, id: id as string, window: windowOf(now), ...emptyCounts(), requests: 7 },
        ]);
        await usage.setThrottle(NS, id as string, { rule: 'spike', rps: 1, since: now, until: now + 900 });
      } finally {
        await backend.close();
      }
    }
    const shown = await both(['tokens', 'usage', '--since', '15m'], {}, normal);
    expect(normal(shown.stdout)).toMatch(/^ID +REQUESTS .*\n<id> +7 +0 .* spike until <time>\n$/);
    const report = JSON.parse((await api(['tokens', 'usage', ids[0] as string, '--json'])).stdout) as {
      tokens: { id: string; requests: number; throttle?: { rule: string } }[];
    };
    expect(report.tokens).toMatchObject([{ id: ids[0], requests: 7, throttle: { rule: 'spike' } }]);

    const [lifted, liftedHere] = await Promise.all([
      api(['tokens', 'unthrottle', ids[0] as string]),
      local(['tokens', 'unthrottle', ids[1] as string]),
    ]);
    // Whole results first, so that a failure shows what either printed to stderr.
    expect({ ...liftedHere, stdout: normal(liftedHere.stdout) }).toEqual({
      ...lifted,
      stdout: normal(lifted.stdout),
    });
    expect(lifted).toMatchObject({ code: 0, stdout: `Lifted the throttle of ${ids[0]}\n` });
    const again = await api(['tokens', 'unthrottle', ids[0] as string, '--json']);
    expect(JSON.parse(again.stdout)).toEqual({ namespace: NS, lifted: [] });
    const after = JSON.parse((await api(['tokens', 'usage', '--json'])).stdout) as {
      tokens: { throttle?: unknown }[];
    };
    expect(after.tokens[0]?.throttle).toBeUndefined();
  });

  it('throws the kill switch of one namespace, as the local vault does, and refuses --all with its reason', async () => {
    const killed = await both(['killswitch'], {}, normal);
    expect(normal(killed.stdout)).toBe('Every token of acme/app issued before <time> is void.\n');
    const listed = JSON.parse((await api(['tokens', 'list', '--json'])).stdout) as { status: string }[];
    expect(listed.map((t) => t.status)).toEqual(['revoked']);
    expect(await api(['killswitch', '--all'])).toMatchObject({
      code: 2,
      stderr:
        'Error: egg killswitch --all is not available with the api backend: its account-wide epoch would void the tokens of every namespace on the server, not only those you administer (run `egg killswitch -n NAMESPACE` for each namespace you are an admin of).\n',
    });
  });

  it('refuses each write to a member with the role read (403), and records each refusal', async () => {
    expect((await api(['members', 'add', 'carol', '--role', 'read'])).code).toBe(0);
    expect((await api(['members', 'add', 'dave', '--role', 'write'])).code).toBe(0);
    const refusal = (role: string, route: string, needs: string) =>
      `Error: your role in acme/app is ${role}, and ${route} needs ${needs} (ask an admin of the namespace for that role).\n`;
    const writes: [string[], string, string][] = [
      [['secrets', 'rollback', 'DB_URL', '--to', '3'], 'secrets.rollback', 'write'],
      [['secrets', 'import', file('carol.env', 'CAROL=x\n')], 'secrets.import', 'write'],
      [['secrets', 'keep', '5'], 'secrets.keep', 'admin'],
      [
        ['secrets', 'seal', 'CAROL_KEY', '--upstream', UPSTREAM, '--from-env', 'KEY'],
        'secrets.seal',
        'write',
      ],
      [['killswitch'], 'tokens.killswitch', 'admin'],
      [['tokens', 'unthrottle', 'AAAAAAAAAAAAAAAAAAAAAA'], 'tokens.unthrottle', 'write'],
    ];
    for (const [args, route, needs] of writes)
      expect(await api(args, carol, { KEY: PROVIDER_KEY })).toMatchObject({
        code: 1,
        stderr: refusal('read', route, needs),
      });
    // The admin acts are refused to a writer too.
    expect(await api(['secrets', 'keep', '5'], dave)).toMatchObject({
      code: 1,
      stderr: refusal('write', 'secrets.keep', 'admin'),
    });
    expect(await api(['killswitch'], dave)).toMatchObject({
      code: 1,
      stderr: refusal('write', 'tokens.killswitch', 'admin'),
    });
    // What a reader may do, it does.
    expect((await api(['secrets', 'keep'], carol)).stdout).toBe(
      'acme/app keeps 1 earlier version of each secret.\n',
    );
    expect((await api(['tokens', 'usage'], carol)).code).toBe(0);
    expect((await api(['secrets', 'seal', '--public-key'], carol)).code).toBe(0);

    const trail = JSON.parse((await api(['audit', '--json'])).stdout) as {
      action: string;
      actor: string;
      outcome: string;
    }[];
    const refused = trail
      .filter((r) => r.outcome === 'access-denied')
      .map((r) => [r.action, r.actor.replace(`${people.issuer}|`, '')]);
    expect(refused).toEqual([
      ...writes.map(([, route]) => [route, 'carol']),
      ['secrets.keep', 'dave'],
      ['tokens.killswitch', 'dave'],
    ]);
    // Nothing a refused call asked for happened.
    expect((await api(['secrets', 'list'])).stdout).not.toMatch(/CAROL/);
  });

  it('tells a non-member on each new route what a missing namespace is told (404)', async () => {
    const routes: [string, string, unknown][] = [
      ['POST', 'secrets/DB_URL/rollback', { rev: 1 }],
      ['POST', 'import', { secrets: [{ name: 'X', value: 'eA==' }] }],
      ['GET', 'keep', undefined],
      ['POST', 'keep', { count: 3 }],
      ['GET', 'sealing-key', undefined],
      ['POST', 'secrets/OPENAI_KEY/seal', { sealed: {}, upstream: UPSTREAM }],
      ['POST', 'tokens/killswitch', undefined],
      ['GET', 'tokens/usage?since=60', undefined],
      ['POST', 'tokens/unthrottle', { ids: ['AAAAAAAAAAAAAAAAAAAAAA'] }],
    ];
    const call = async (namespace: string, [method, tail, body]: [string, string, unknown]) => {
      const response = await fetch(`${serve.url}/v1/namespaces/${namespace}/${tail}`, {
        method,
        headers: {
          authorization: `Bearer ${bob}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return {
        status: response.status,
        body: (await response.text()).replace(namespace.replace('%2F', '/'), 'NS'),
      };
    };
    for (const route of routes) {
      const forbidden = await call('acme%2Fapp', route);
      const missing = await call('acme%2Fnone', route);
      expect(forbidden.status, route[1]).toBe(404);
      expect(forbidden, route[1]).toEqual(missing);
    }
    // And the CLI says so, for a write of a namespace that exists and is not bob's (never "taken").
    expect(await api(['secrets', 'keep', '3'], bob)).toMatchObject({
      code: 1,
      stderr:
        'Error: namespace acme/app does not exist, or you are not a member of it (ask its owner to add you (`egg members add`)).\n',
    });
  });
});
