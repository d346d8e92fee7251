/**
 * `egg proxy serve` (the built CLI, a child process) on a local vault that changes under it
 * (issue 9 item 4), attacked as the review did: vault.db deleted or replaced and then
 * `egg killswitch`; the vault read-only; the vault locked by another process. The proxy
 * must never answer 200 for a token the kill switch voided, must answer 503 and say why
 * on stderr, and must never crash (a crash of the child is seen as a crash).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { send } from '../support/proxy-http.js';

const CANARY = 'sk-e2e-store-canary-71b3c9d2-DO-NOT-LEAK';
const ORIGIN = 'https://app.example.com';
/**
 * Root ignores file modes, so as root the read-only cases make the files immutable
 * (`chattr +i`, which root cannot write through either) rather than run the proxy as
 * another user, who may not even reach this checkout (a clone under a 0700 mktemp dir).
 */
const AS_ROOT = process.getuid?.() === 0;
const CHATTR = AS_ROOT ? chattrWorks() : false;

function chattrWorks(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'egg-chattr-'));
  const file = join(dir, 'probe');
  try {
    writeFileSync(file, '');
    if (spawnSync('chattr', ['+i', file]).status !== 0) return false;
    spawnSync('chattr', ['-i', file]);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Make `paths` read-only for this process: modes, and as root the immutable attribute too. */
function protect(paths: string[], mode: number): void {
  for (const path of paths) chmodSync(path, mode);
  if (AS_ROOT) expect(spawnSync('chattr', ['+i', ...paths]).status).toBe(0);
}
function unprotect(paths: string[]): void {
  if (AS_ROOT) spawnSync('chattr', ['-i', ...paths]);
}

interface ServeProcess {
  url: string;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function serve(env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn(process.execPath, [EGG_BIN, 'proxy', 'serve', '--port', '0'], {
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const match = /listening on (http:\/\/\S+)/.exec(err);
      if (match) {
        resolve({
          url: match[1]!,
          child,
          stderr: () => err,
          stop: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`proxy exited ${code ?? signal}: ${err}`)));
  });
}

/** The warn lines the proxy wrote to stderr for `event`. */
function events(stderr: string, event: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.event === event);
}

describe('egg proxy serve on a local vault that changes under it (built CLI)', () => {
  let base: string;
  let upstream: FakeUpstream;
  const outputs: string[] = [];
  const running: ServeProcess[] = [];

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-proxy-store-e2e-'));
    chmodSync(base, 0o755);
    upstream = await startFakeUpstream();
  });
  afterEach(async () => {
    for (const proxy of running.splice(0)) {
      outputs.push(proxy.stderr());
      await proxy.stop();
    }
  });
  afterAll(async () => {
    await upstream?.close();
    for (const output of outputs) expect(findLeaks(output, CANARY)).toEqual([]);
    rmSync(base, { recursive: true, force: true });
  });

  /** A vault with the canary key pinned to the upstream, and a token for it. */
  function vaultWithToken(name: string): { env: NodeJS.ProcessEnv; home: string; token: string } {
    const home = join(base, name);
    const env = { EGG_HOME: home, EGG_NAMESPACE: 'acme/web' };
    const set = egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', upstream.url], { env, input: CANARY });
    expect(set.code).toBe(0);
    const minted = egg(
      ['tokens', 'mint', '--key', 'OPENAI_KEY', '--origin', ORIGIN, '--rps', '100', '--spend', '1000'],
      {
        env,
      },
    );
    expect(minted.code).toBe(0);
    outputs.push(set.stdout, set.stderr, minted.stderr);
    return { env, home, token: minted.stdout.trim() };
  }
  async function start(env: NodeJS.ProcessEnv): Promise<ServeProcess> {
    const proxy = await serve(env);
    running.push(proxy);
    return proxy;
  }
  /** Requests until one is not 200 (the poll that notices runs every 250 ms), at most ~5 s. */
  async function firstNot200(url: string, token: string) {
    for (let i = 0; ; i++) {
      const res = await send(url, { token, headers: { origin: ORIGIN } });
      if (res.status !== 200 || i === 50) return res;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const swaps: [string, (vault: string) => void][] = [
    [
      'deleted',
      (vault) => {
        for (const suffix of ['', '-wal', '-shm']) rmSync(vault + suffix, { force: true });
      },
    ],
    [
      'replaced by a copy (mv)',
      (vault) => {
        copyFileSync(vault, `${vault}.copy`);
        renameSync(`${vault}.copy`, vault);
      },
    ],
  ];

  it.each(swaps)(
    'never answers 200 once vault.db is %s and `egg killswitch` has run, and says to restart',
    async (label, swap) => {
      const { env, home, token } = vaultWithToken(`swap-${label.split(' ')[0]}`);
      const proxy = await start(env);
      expect((await send(proxy.url, { token, headers: { origin: ORIGIN } })).status).toBe(200);

      swap(join(home, 'vault.db'));
      const killed = egg(['killswitch'], { env });
      outputs.push(killed.stdout, killed.stderr);

      const res = await firstNot200(proxy.url, token);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect((await send(proxy.url, { token, headers: { origin: ORIGIN } })).status).toBe(503);
      const [line, ...more] = events(proxy.stderr(), 'proxy.failed_closed');
      expect(more).toEqual([]);
      expect(line).toMatchObject({
        level: 'warn',
        fix: 'restart the proxy (egg proxy serve) so that it opens the vault that is there now',
      });
      expect(line!.reason).toMatch(
        /^vault\.db(-wal|-shm)? was (deleted|replaced) after this process opened it/,
      );
      expect(proxy.child.exitCode).toBe(null);
    },
  );

  const readOnly: [string, (home: string) => string[], number][] = [
    [
      'vault.db and its WAL files are read-only',
      (home) =>
        readdirSync(home)
          .filter((file) => file.startsWith('vault.db'))
          .map((file) => join(home, file)),
      0o400,
    ],
    ['the vault directory is read-only', (home) => [home], 0o500],
  ];

  it.skipIf(AS_ROOT && !CHATTR).each(readOnly)(
    'answers 503 and says why when %s, and does not crash',
    async (label, paths, mode) => {
      const { env, home, token } = vaultWithToken(`ro-${label.split(' ')[1]}`);
      const locked = paths(home);
      protect(locked, mode);
      onTestFinished(() => unprotect(locked));
      const proxy = await start({ ...env, HOME: tmpdir() });

      const res = await send(proxy.url, { token, headers: { origin: ORIGIN } });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'state_unavailable' } });
      // A preflight needs no state: still answered.
      const preflight = await send(proxy.url, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(204);

      const [line, ...more] = events(proxy.stderr(), 'proxy.failed_closed');
      expect(more).toEqual([]);
      expect(line!.reason).toMatch(
        /is read-only for this process: the proxy cannot reserve spend in vault\.db/,
      );
      expect(line!.fix).toMatch(
        /^give this user write access again \(chmod 700 .*\), then restart the proxy$/,
      );
      // Nothing of the vault was opened: no WAL index was made or mapped.
      expect(existsSync(join(home, 'vault.db-shm'))).toBe(false);
      expect(await proxy.stop()).toEqual({ code: 0, signal: null });
    },
  );

  it('answers 503 with Retry-After while another process holds the vault locked, a preflight meanwhile, and 200 after', async () => {
    const { env, home, token } = vaultWithToken('locked');
    const proxy = await start(env);
    expect((await send(proxy.url, { token, headers: { origin: ORIGIN } })).status).toBe(200);

    const holder = new DatabaseSync(join(home, 'vault.db'));
    try {
      holder.exec('BEGIN EXCLUSIVE');
      holder.exec("UPDATE token_heads SET version = version WHERE namespace = 'none'");
      const locked = await send(proxy.url, { token, headers: { origin: ORIGIN } });
      expect(locked.status).toBe(503);
      expect(locked.headers['retry-after']).toBe('1');
      const preflight = await send(proxy.url, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(204);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect((await send(proxy.url, { token, headers: { origin: ORIGIN } })).status).toBe(200);
    expect(proxy.child.exitCode).toBe(null);
  });
});
