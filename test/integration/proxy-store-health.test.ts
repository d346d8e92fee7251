/**
 * The local vault under a running proxy (issue 9 item 4), with the real SQLite file: the
 * file deleted, replaced or swapped for a symlink while the proxy holds it open (a later
 * kill switch then lands in a file the proxy never reads), and the vault locked by another
 * connection (node:sqlite waits for a lock on the event loop). The proxy must fail closed
 * with 503 and say why, and never stall the requests that need no store.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

const CANARY_KEY = `sk-health-canary-${randomBytes(8).toString('hex')}`;

interface LogLine {
  level: string;
  event: string;
  fields: Record<string, unknown>;
}

function captureLogger(lines: LogLine[]): Logger {
  const at =
    (level: string) =>
    (event: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, event, fields });
  return { debug: at('debug'), info: at('info'), warn: at('warn') };
}

describe('the local vault changes under a running proxy', () => {
  let upstream: FakeUpstream;
  let world: ProxyWorld;
  let proxy: TestProxy;
  let vaultPath: string;
  let logs: LogLine[];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });
  beforeEach(async () => {
    world = await createWorld('sqlite');
    vaultPath = world.vaultPath!;
    await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
    logs = [];
    proxy = await startTestProxy(world, { pollMs: 60_000, logger: captureLogger(logs) });
  });
  afterEach(async () => {
    await proxy?.close();
    await world?.close();
  });

  // What `egg killswitch` does next (it lands in the new file, or is refused) is the e2e
  // test's (test/e2e/proxy-store.test.ts): here, one process cannot stand for two, as
  // SQLite shares its view of a file between the connections of a process.
  const attacks: [string, (path: string) => void][] = [
    [
      'vault.db is deleted (with its -wal and -shm)',
      (path) => {
        for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix);
      },
    ],
    [
      'vault.db is replaced by another file (mv)',
      (path) => {
        copyFileSync(path, `${path}.copy`);
        renameSync(`${path}.copy`, path);
      },
    ],
    [
      'vault.db becomes a symlink',
      (path) => {
        renameSync(path, `${path}.real`);
        symlinkSync(`${path}.real`, path);
      },
    ],
    [
      'vault.db-wal and vault.db-shm are deleted',
      (path) => {
        rmSync(`${path}-wal`);
        rmSync(`${path}-shm`);
      },
    ],
  ];

  it.each(attacks)('fails closed for every token when %s', async (_, attack) => {
    const [token, other] = [await world.mint(), await world.mint()];
    const ok = await send(proxy.url, { token, headers: { origin: APP_ORIGIN } });
    expect(ok.status).toBe(200);

    attack(vaultPath);
    // The next revocation poll (every 250 ms by default) checks the file under the connection.
    await proxy.watcher.pollNow();

    const after = await send(proxy.url, { token, headers: { origin: APP_ORIGIN } });
    expect(after.status).toBe(503);
    expect(after.headers['retry-after']).toBe('1');
    expect(JSON.parse(after.body)).toMatchObject({ error: { code: 'state_unavailable' } });
    // Every token, not only the one in use: the proxy no longer knows any state.
    expect((await send(proxy.url, { token: other, headers: { origin: APP_ORIGIN } })).status).toBe(503);

    const failed = logs.filter((line) => line.event === 'proxy.failed_closed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.level).toBe('warn');
    expect(failed[0]!.fields.reason).toMatch(
      /^vault\.db(-wal|-shm)? was (deleted|replaced) after this process opened it/,
    );
    expect(failed[0]!.fields.fix).toBe(
      'restart the proxy (egg proxy serve) so that it opens the vault that is there now',
    );
    expect(JSON.stringify(logs)).not.toContain(CANARY_KEY);
    expect(JSON.stringify(logs)).not.toContain(token);
  });
});

describe('a locked local vault under a running proxy', () => {
  let upstream: FakeUpstream;
  let world: ProxyWorld;
  let vaultPath: string;
  let holder: DatabaseSync | undefined;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    world = await createWorld('sqlite');
    vaultPath = world.vaultPath!;
    await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
  });
  afterAll(async () => {
    await world?.close();
    await upstream?.close();
  });
  afterEach(() => {
    if (holder?.isTransaction) holder.exec('ROLLBACK');
    holder?.close();
    holder = undefined;
  });

  /** Another process's long write transaction (an `egg` command stuck mid-write, or an attacker). */
  function lockVault(): void {
    holder = new DatabaseSync(vaultPath);
    holder.exec('BEGIN EXCLUSIVE');
    holder.exec("UPDATE token_heads SET version = version WHERE namespace = 'none'");
  }
  function unlockVault(): void {
    holder?.exec('ROLLBACK');
  }

  it('answers 503 with Retry-After while the vault is locked, and 200 once it is released', async () => {
    const proxy = await startTestProxy(world, { lockWaitMs: 50 });
    try {
      const token = await world.mint();
      expect((await send(proxy.url, { token, headers: { origin: APP_ORIGIN } })).status).toBe(200);
      lockVault();
      const locked = await send(proxy.url, { token, headers: { origin: APP_ORIGIN } });
      expect(locked.status).toBe(503);
      expect(locked.headers['retry-after']).toBe('1');
      expect(JSON.parse(locked.body)).toMatchObject({ error: { code: 'state_unavailable' } });
      unlockVault();
      expect((await send(proxy.url, { token, headers: { origin: APP_ORIGIN } })).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });

  it('answers a bad token and a preflight while a request waits for the lock, without holding the event loop', async () => {
    // A lock wait longer than the test: the waiting request can only end when the lock goes.
    const proxy = await startTestProxy(world, { lockWaitMs: 60_000 });
    try {
      const token = await world.mint();
      expect((await send(proxy.url, { token, headers: { origin: APP_ORIGIN } })).status).toBe(200);
      const events: string[] = [];
      lockVault();
      const spendBefore = proxy.store.spendCalls;
      const waiting = send(proxy.url, { token, headers: { origin: APP_ORIGIN } }).then((res) => {
        events.push(`store ${res.status}`);
        return res;
      });
      // Once the waiting request has reached the store, ask for what needs none.
      while (proxy.store.spendCalls === spendBefore) await new Promise((r) => setImmediate(r));
      const badToken = await send(proxy.url, { token: `${token}x`, headers: { origin: APP_ORIGIN } });
      events.push(`bad token ${badToken.status}`);
      const preflight = await send(proxy.url, {
        method: 'OPTIONS',
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' },
      });
      events.push(`preflight ${preflight.status}`);
      unlockVault();
      const done = await waiting;
      expect(events).toEqual(['bad token 401', 'preflight 204', 'store 200']);
      expect(done.status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});
