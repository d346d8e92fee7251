/**
 * Token times and origin binding through the built CLI (issue 9, items 9 and 6): `egg proxy
 * serve`, `egg killswitch` and `egg tokens mint` as child processes on one local vault.
 * The token with a future `iat` is minted in this process by the library with a clock 25 s
 * fast (a minting host whose clock runs ahead, within the verifiers' skew), signed with the
 * vault's own key and recorded in its own vault file, exactly as `egg tokens mint` on that
 * host would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend, VAULT_FILE } from '../../src/backends/local.js';
import { LocalSigner, SIGNING_KEY_FILE } from '../../src/tokens/signer.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { send } from '../support/proxy-http.js';

const CANARY = 'sk-e2e-rules-canary-4f0b9e12-DO-NOT-LEAK';
const ORIGIN = 'https://app.example.com';
const NAMESPACE = 'acme/web';

/** `egg proxy serve --port 0`, resolved once it prints where it listens. */
function serve(
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; output: () => string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [EGG_BIN, 'proxy', 'serve', '--port', '0'], {
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start: ${err}`)), 20_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const match = /listening on (http:\/\/\S+)/.exec(err);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1]!,
          output: () => out + err,
          stop: () =>
            new Promise((done) => {
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`proxy exited ${code}: ${err}`)));
  });
}

describe('token times and origin binding (built CLI, local vault)', () => {
  let base: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let upstream: FakeUpstream;
  /** Started once the first mint has created the signing key (the proxy reads it at start). */
  let proxy: Awaited<ReturnType<typeof serve>> | undefined;
  const outputs: string[] = [];
  const run = (args: string[], input?: string) => {
    const result = egg(args, { env, ...(input === undefined ? {} : { input }) });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const mintArgs = ['tokens', 'mint', '--key', 'OPENAI_KEY', '--rps', '50', '--spend', '100'];
  const status = async (token: string, origin?: string) => {
    proxy ??= await serve(env);
    return (await send(proxy.url, { token, ...(origin === undefined ? {} : { headers: { origin } }) }))
      .status;
  };

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-rules-e2e-'));
    home = join(base, 'home');
    env = { EGG_HOME: home, EGG_NAMESPACE: NAMESPACE };
    upstream = await startFakeUpstream();
    expect(run(['secrets', 'set', 'OPENAI_KEY', '--upstream', upstream.url], CANARY).code).toBe(0);
  });
  afterAll(async () => {
    if (proxy !== undefined) outputs.push(proxy.output());
    await proxy?.stop();
    await upstream?.close();
    for (const haystack of outputs) expect(findLeaks(haystack, CANARY)).toEqual([]);
    rmSync(base, { recursive: true, force: true });
  });

  it('refuses (403) a web token without Origin, and mints a native one only with --allow-no-origin', async () => {
    const none = run(mintArgs);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      'Error: give 1 to 32 --origin values, or --allow-no-origin for a native app (the origins of the web apps allowed to use the token, e.g. --origin https://app.example.com; --allow-no-origin lets clients that send no Origin (native apps) use it too).\n',
    );
    const web = run([...mintArgs, '--origin', ORIGIN]).stdout.trim();
    const native = run([...mintArgs, '--allow-no-origin', '--json']);
    expect(native.code).toBe(0);
    const { token: nativeToken, claims } = JSON.parse(native.stdout) as {
      token: string;
      claims: { jti: string; origins: string[]; native?: boolean };
    };
    expect(claims).toMatchObject({ origins: [], native: true });
    const before = upstream.requests.length;
    expect([
      await status(web),
      await status(web, ORIGIN),
      await status(web, 'HTTPS://APP.EXAMPLE.COM'),
    ]).toEqual([403, 200, 200]);
    expect([
      await status(nativeToken),
      await status(nativeToken, ORIGIN),
      await status(nativeToken, 'null'),
    ]).toEqual([200, 403, 403]);
    expect(upstream.requests.length).toBe(before + 3);
    // Two tokens minted in the same second list in id order, so match them by id.
    const listed = JSON.parse(run(['tokens', 'list', '--json']).stdout) as {
      id: string;
      allowNoOrigin: boolean;
    }[];
    const nativeId = claims.jti;
    expect(listed).toHaveLength(2);
    expect(listed.map((t) => [t.id === nativeId, t.allowNoOrigin]).sort()).toEqual([
      [false, false],
      [true, true],
    ]);
  });

  it('voids with egg killswitch a token minted with a future iat (within skew) just before it', async () => {
    const normal = run([...mintArgs, '--origin', ORIGIN]).stdout.trim();
    const seed = readFileSync(join(home, SIGNING_KEY_FILE));
    const backend = openLocalBackend(home);
    const store = new SqliteTokenStore(join(home, VAULT_FILE));
    try {
      const fast = new Tokens({
        namespace: NAMESPACE,
        signer: new LocalSigner(seed),
        tokens: store,
        secrets: backend.store,
        actor: 'fast-clock-host',
        clock: () => Date.now() + 25_000,
      });
      const ahead = await fast.mint({
        key: 'OPENAI_KEY',
        origins: [ORIGIN],
        ttlSeconds: 600,
        rps: 50,
        spend: 100,
      });
      expect([await status(ahead.token, ORIGIN), await status(normal, ORIGIN)]).toEqual([200, 200]);

      const killed = run(['killswitch', '--json']);
      expect(killed.code).toBe(0);
      const { notBefore } = JSON.parse(killed.stdout) as { notBefore: string };
      // Dated after the epoch: the epoch alone would let it live on.
      expect(ahead.claims.iat * 1000).toBeGreaterThanOrEqual(Date.parse(notBefore));
      const before = upstream.requests.length;
      // Its record existed before the kill switch: refused from the very next request.
      expect(await status(ahead.token, ORIGIN)).toBe(401);
      // The token dated before the epoch: refused too (the mark, or the polled epoch).
      expect(await status(normal, ORIGIN)).toBe(401);
      expect(upstream.requests.length).toBe(before);

      const list = JSON.parse(run(['tokens', 'list', '--json']).stdout) as { id: string; status: string }[];
      expect(list.find((t) => t.id === ahead.id)?.status).toBe('revoked');
      // A token minted after the kill switch works.
      const fresh = run([...mintArgs, '--origin', ORIGIN]).stdout.trim();
      expect(await status(fresh, ORIGIN)).toBe(200);
    } finally {
      seed.fill(0);
      await store.close();
      backend.keyring.close();
      await backend.store.close();
    }
  });
  it('rotates a token with egg tokens rotate: the successor works at once, the old one through the grace, and not after --grace 0', async () => {
    const minted = JSON.parse(
      run([...mintArgs, '--origin', ORIGIN, '--tag', 'release=7', '--json']).stdout,
    ) as {
      token: string;
      id: string;
    };
    expect(await status(minted.token, ORIGIN)).toBe(200);

    const rotated = run(['tokens', 'rotate', minted.id]);
    expect(rotated.code).toBe(0);
    const successor = rotated.stdout.trim();
    expect(rotated.stdout).toBe(`${successor}\n`);
    expect(rotated.stderr).toMatch(
      new RegExp(`^Token \\S{22} replaces ${minted.id}, valid until \\S+; ${minted.id} stops at \\S+\\.\\n$`),
    );
    expect(rotated.stderr).not.toContain(successor);
    // Within the 5-minute grace both work.
    expect([await status(successor, ORIGIN), await status(minted.token, ORIGIN)]).toEqual([200, 200]);

    const again = run(['tokens', 'rotate', minted.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      new RegExp(`^Error: token ${minted.id} is already being revoked \\(at \\S+\\) \\(.*\\)\\.\\n$`),
    );

    const successorId = (
      JSON.parse(run(['tokens', 'list', '--json']).stdout) as {
        id: string;
        tags: Record<string, string>;
        revokesAt?: string;
      }[]
    ).filter((t) => t.tags.release === '7' && t.revokesAt === undefined);
    expect(successorId).toHaveLength(1);
    const now = run(['tokens', 'rotate', successorId[0]!.id, '--grace', '0', '--json']);
    expect(now.code).toBe(0);
    const third = JSON.parse(now.stdout) as { token: string; replaces: string; stopsAt: string };
    expect(third.replaces).toBe(successorId[0]!.id);
    expect(await status(third.token, ORIGIN)).toBe(200);
    // The running proxy refuses the rotated token from its next poll on.
    const seen: number[] = [];
    const deadline = Date.now() + 10_000;
    while (seen.at(-1) !== 401 && Date.now() < deadline) {
      seen.push(await status(successor, ORIGIN));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(seen.at(-1)).toBe(401);

    const unknown = run(['tokens', 'rotate', 'AAAAAAAAAAAAAAAAAAAAAA']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^Error: no token AAAAAAAAAAAAAAAAAAAAAA was minted in acme\/web \(.*\)\.\n$/,
    );
    const badGrace = run(['tokens', 'rotate', minted.id, '--grace', '2d']);
    expect(badGrace.code).toBe(2);
    expect(badGrace.stderr).toMatch(/^Error: --grace "2d" is not a duration between 0s and 24h/);
  });
  it('voids with egg killswitch --all the tokens of two namespaces at a running proxy, and reports each', async () => {
    expect(
      run(['secrets', 'set', 'OPENAI_KEY', '-n', 'acme/api', '--upstream', upstream.url], CANARY).code,
    ).toBe(0);
    const web = run([...mintArgs, '--origin', ORIGIN]).stdout.trim();
    const api = run([...mintArgs, '--origin', ORIGIN, '-n', 'acme/api']).stdout.trim();
    expect([await status(web, ORIGIN), await status(api, ORIGIN)]).toEqual([200, 200]);

    const killed = run(['killswitch', '--all']);
    expect(killed.code).toBe(0);
    expect(killed.stdout).toMatch(
      /^Every token issued before \S+ is void, in every namespace\.\n {2}acme\/api: killed, records marked\n {2}acme\/web: killed, records marked\n$/,
    );
    const before = upstream.requests.length;
    expect([await status(web, ORIGIN), await status(api, ORIGIN)]).toEqual([401, 401]);
    expect(upstream.requests.length).toBe(before);
    const json = JSON.parse(run(['killswitch', '--all', '--json']).stdout) as {
      notBefore: string;
      namespaces: { namespace: string; ok: boolean }[];
    };
    expect(json.namespaces.map((n) => [n.namespace, n.ok])).toEqual([
      ['acme/api', true],
      ['acme/web', true],
    ]);
    // Minted afterwards, in either namespace: valid at once.
    const fresh = run([...mintArgs, '--origin', ORIGIN, '-n', 'acme/api']).stdout.trim();
    expect(await status(fresh, ORIGIN)).toBe(200);
  });
});
