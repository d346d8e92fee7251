/**
 * `egg tokens usage --watch` through the built CLI on a local vault (issue 10, item 1): one
 * JSON line a refresh with --json, plain frames when stdout is not a terminal, a frame redrawn
 * in place on a node-pty terminal, and a clean stop (exit 0) on SIGTERM, SIGINT and Ctrl-C.
 * Usage is added to the vault between refreshes, as a proxy would, and each refresh shows it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPty, type PtyModule } from '../../src/run/pty.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import { emptyCounts, windowOf } from '../../src/tokens/usage-store.js';
import { EGG_BIN, egg } from '../support/cli.js';

const NAMESPACE = 'acme/web';
const ptyOrReason = await loadPty();

async function until(probe: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const start = performance.now();
  while (!probe()) {
    if (performance.now() - start > deadlineMs) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('egg tokens usage --watch (built CLI, local vault)', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  let store: SqliteTokenStore;
  let tokenId: string;
  const watchArgs = ['tokens', 'usage', '--watch', '--interval', '1s', '--since', '5m'];

  /** Add `requests` to the token's current window, as a proxy's batch does. */
  const use = (requests: number) =>
    store.addUsage([
      {
        namespace: NAMESPACE,
        id: tokenId,
        window: windowOf(Math.floor(Date.now() / 1000)),
        ...emptyCounts(),
        requests,
        spend: requests,
      },
    ]);

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-usage-watch-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: NAMESPACE };
    expect(
      egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', 'https://api.openai.com'], { env, input: 'sk-x' })
        .code,
    ).toBe(0);
    const minted = egg(
      [
        'tokens',
        'mint',
        '--key',
        'OPENAI_KEY',
        '--origin',
        'https://app.example.com',
        '--rps',
        '5',
        '--spend',
        '1000',
        '--json',
      ],
      {
        env,
      },
    );
    tokenId = (JSON.parse(minted.stdout) as { id: string }).id;
    store = new SqliteTokenStore(join(base, 'home', 'vault.db'));
    await use(1);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(base, { recursive: true, force: true });
  });

  function start(args: string[]) {
    const child: ChildProcess = spawn(process.execPath, [EGG_BIN, ...args], {
      env: { ...process.env, FORCE_COLOR: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, out, exited };
  }

  it('prints one JSON line a refresh with --json, shows new usage, and stops cleanly on SIGTERM', async () => {
    const watch = start([...watchArgs, '--json']);
    const lines = () =>
      watch.out.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map(
          (l) =>
            JSON.parse(l) as {
              namespace: string;
              since: string;
              at: string;
              tokens: { id: string; requests: number }[];
            },
        );
    await until(() => lines().length >= 1, 'a first JSON line');
    const first = lines()[0]!;
    expect(first.namespace).toBe(NAMESPACE);
    const before = first.tokens.find((t) => t.id === tokenId)!.requests;
    await use(4);
    await until(
      () => lines().some((l) => l.tokens.find((t) => t.id === tokenId)?.requests === before + 4),
      'the added usage',
    );
    watch.child.kill('SIGTERM');
    expect(await watch.exited).toBe(0);
    expect(lines().length).toBeGreaterThanOrEqual(2);
    // Each refresh reads afresh: the times move on.
    expect(new Set(lines().map((l) => l.at)).size).toBe(lines().length);
    expect(watch.out.stdout).not.toContain('\x1b');
  });

  it('prints frames as plain lines when stdout is not a terminal, and stops cleanly on SIGINT', async () => {
    const watch = start(watchArgs);
    const frames = () => watch.out.stdout.split(`Usage in ${NAMESPACE}, last 5m, at `).length - 1;
    await until(() => frames() >= 2, 'two frames');
    watch.child.kill('SIGINT');
    expect(await watch.exited).toBe(0);
    expect(watch.out.stdout).not.toContain('\x1b');
    expect(watch.out.stdout).toContain('(every 1s; Ctrl-C to stop)');
    expect(watch.out.stdout).toMatch(new RegExp(`\\n${tokenId} +\\d+ +0 +0 +0 +0 +0 +\\d+ +0 +0\\n`));
  });

  it.runIf(!('reason' in ptyOrReason))(
    'redraws the frame in place on a terminal and stops on Ctrl-C',
    async () => {
      const pty = ptyOrReason as PtyModule;
      const terminal = pty.spawn(process.execPath, [EGG_BIN, ...watchArgs], {
        name: 'xterm-256color',
        cols: 160,
        rows: 40,
        cwd: base,
        env: Object.fromEntries(
          Object.entries({ ...process.env, ...env }).filter(
            (e): e is [string, string] =>
              e[1] !== undefined && !['FORCE_COLOR', 'NO_COLOR', 'CI'].includes(e[0]),
          ),
        ),
        encoding: null,
      });
      let screen = '';
      terminal.onData((d) => (screen += d.toString()));
      const exited = new Promise<number>((resolve) => terminal.onExit((e) => resolve(e.exitCode)));
      const redraws = () => screen.split('\x1b[0J').length - 1;
      await until(() => screen.includes('Usage in'), 'the first frame');
      await use(2);
      await until(() => redraws() >= 2, 'two redraws');
      terminal.write('\x03');
      expect(await exited).toBe(0);
      // Every frame after the first goes back up over the one before: header, blank line, and
      // a two-row table, so four rows.
      expect(screen).toContain('\x1b[4F\x1b[0JUsage in acme/web');
      expect(screen.split('Usage in acme/web').length - 1).toBe(redraws() + 1);
    },
  );
});
