/**
 * The revocation watcher's failures that do not heal (issue 9 item 4): revocation state
 * that went backwards (a store restored from an older copy: the revocations made since are
 * gone), and a store that says it can no longer be trusted. Both refuse every namespace for
 * good and log why once.
 */
import { describe, expect, it } from 'vitest';
import { StoreUnusable } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { RevocationWatcher } from '../../src/proxy/revocation.js';
import type { RevocationState } from '../../src/tokens/token-store.js';

const claims = { jti: 'a'.repeat(22), sub: 'acme/web', iat: 1000 };
const other = { jti: 'b'.repeat(22), sub: 'acme/api', iat: 1000 };

function world() {
  const states = new Map<string, RevocationState>();
  const state = (ns: string) => {
    let s = states.get(ns);
    if (s === undefined) states.set(ns, (s = { version: 0, notBefore: 0, revoked: new Map() }));
    return s;
  };
  let broken: Error | undefined;
  const gate = () => {
    if (broken !== undefined) throw broken;
  };
  const warnings: { event: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (event, fields = {}) => void warnings.push({ event, fields }),
  };
  return {
    state,
    warnings,
    logger,
    break: (error: Error) => (broken = error),
    store: {
      revocationVersion: async (ns: string) => (
        gate(),
        { version: state(ns).version, notBefore: state(ns).notBefore }
      ),
      revocationState: async (ns: string) => (gate(), { ...state(ns), revoked: new Map(state(ns).revoked) }),
    },
  };
}

describe('revocation watcher: failures that do not heal', () => {
  it('refuses every namespace for good once a kill switch epoch goes backwards (an older copy restored)', async () => {
    const w = world();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    w.state('acme/web').notBefore = 500;
    w.state('acme/web').version = 3;
    expect(await watcher.check(claims)).toBe('ok');
    expect(await watcher.check(other)).toBe('ok');

    // The store now holds a copy from before the kill switch: the epoch is gone.
    w.state('acme/web').notBefore = 0;
    w.state('acme/web').version = 2;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    expect(await watcher.check(other)).toBe('unavailable');

    // Even if the version later moves past where it was, the lost revocations stay lost.
    w.state('acme/web').version = 9;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    expect(w.warnings).toEqual([
      {
        event: 'proxy.failed_closed',
        fields: {
          reason:
            'the revocation state of acme/web went backwards (version 3 to 2): the store was replaced or restored from an older copy, and the revocations made since are gone',
          fix: 'revoke again what was revoked (or use the kill switch), then restart the proxy (egg proxy serve)',
        },
      },
    ]);
  });

  it('refuses every namespace for good once a revoked token id is no longer counted (the version went backwards)', async () => {
    const w = world();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    w.state('acme/web').revoked.set(claims.jti, 99_999_999_999);
    w.state('acme/web').version = 1;
    expect(await watcher.check(claims)).toBe('revoked');
    w.state('acme/web').revoked.clear();
    w.state('acme/web').version = 0;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    expect(w.warnings.map((line) => line.event)).toEqual(['proxy.failed_closed']);
  });

  it('fails closed for good, with one log line, when the store reports itself unusable', async () => {
    const w = world();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    expect(await watcher.check(claims)).toBe('ok');
    w.break(
      new StoreUnusable(
        'vault.db was replaced after this process opened it',
        'restart the proxy (egg proxy serve) so that it opens the vault that is there now',
      ),
    );
    await watcher.pollNow();
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    // A namespace never seen before is refused too, without a read.
    expect(watcher.check(other)).toBe('unavailable');
    expect(w.warnings).toEqual([
      {
        event: 'proxy.failed_closed',
        fields: {
          reason: 'vault.db was replaced after this process opened it',
          fix: 'restart the proxy (egg proxy serve) so that it opens the vault that is there now',
        },
      },
    ]);
  });

  it('heals from a plain read failure (the store is only unreachable), unlike the above', async () => {
    const w = world();
    let now = 0;
    const watcher = new RevocationWatcher({
      store: w.store,
      clock: () => now,
      maxStaleMs: 1000,
      logger: w.logger,
    });
    expect(await watcher.check(claims)).toBe('ok');
    w.break(new Error('network'));
    now = 2000;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    w.break(undefined as unknown as Error);
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('ok');
    expect(w.warnings.map((line) => line.event)).toEqual(['revocation.poll.failed']);
  });
});

describe('revocation watcher: the account-wide kill switch', () => {
  /** The namespace store of `world()`, plus an account head that can fail alone. */
  function withAccount() {
    const w = world();
    const account = { version: 0, notBefore: 0 };
    let down: Error | undefined;
    let reads = 0;
    const store = {
      ...w.store,
      accountRevocation: async () => {
        reads++;
        if (down !== undefined) throw down;
        return { ...account };
      },
    };
    return { ...w, store, account, fail: (e: Error | undefined) => (down = e), reads: () => reads };
  }

  it('revokes a token of any namespace issued before the account epoch, and none after it', async () => {
    const w = withAccount();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    expect(await watcher.check(claims)).toBe('ok');
    w.account.notBefore = 1001;
    w.account.version = 1;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('revoked');
    expect(await watcher.check(other)).toBe('revoked');
    expect(await watcher.check({ ...other, iat: 1001 })).toBe('ok');
  });

  it('reads the account head once per poll, however many namespaces it serves', async () => {
    const w = withAccount();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    await Promise.all(Array.from({ length: 20 }, (_, i) => watcher.check({ ...claims, sub: `acme/ns${i}` })));
    const before = w.reads();
    await watcher.pollNow();
    expect(w.reads() - before).toBe(1);
  });

  it('fails closed (unavailable) while the account head cannot be read, and heals after', async () => {
    const w = withAccount();
    let now = 0;
    const watcher = new RevocationWatcher({
      store: w.store,
      clock: () => now,
      maxStaleMs: 1000,
      logger: w.logger,
    });
    expect(await watcher.check(claims)).toBe('ok');
    w.fail(new Error('AccessDenied'));
    now = 2000;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    // A namespace first seen while the account head is unreadable is refused too.
    expect(await watcher.check(other)).toBe('unavailable');
    w.fail(undefined);
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('ok');
  });

  it('refuses every namespace for good once the account epoch goes backwards (an older copy restored)', async () => {
    const w = withAccount();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    w.account.notBefore = 500;
    w.account.version = 2;
    expect(await watcher.check(claims)).toBe('ok');
    w.account.notBefore = 0;
    w.account.version = 1;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    expect(w.warnings.map((line) => line.event)).toEqual(['proxy.failed_closed']);
  });
});

describe('revocation watcher: pollNow reads the store after it is called', () => {
  /** `world()` whose version reads can be held: each answers with the version as it was when asked. */
  function heldReads() {
    const w = world();
    let release: (() => void) | undefined;
    let held: Promise<void> | undefined;
    const store = {
      ...w.store,
      revocationVersion: async (ns: string) => {
        const seen = await w.store.revocationVersion(ns);
        await held;
        return seen;
      },
    };
    return {
      ...w,
      store,
      hold: () => (held = new Promise<void>((resolve) => (release = resolve))),
      release: () => release?.(),
    };
  }

  it('a revocation written while a poll is under way is in force once pollNow returns', async () => {
    const w = heldReads();
    const watcher = new RevocationWatcher({ store: w.store, clock: () => 0, logger: w.logger });
    expect(await watcher.check(claims)).toBe('ok');
    w.hold();
    // The timer's poll, as it were: it has read the version and waits on the network.
    const underWay = watcher.pollNow();
    w.state('acme/web').revoked.set(claims.jti, 99_999_999_999);
    w.state('acme/web').version = 1;
    const asked = watcher.pollNow();
    w.release();
    await Promise.all([underWay, asked]);
    expect(await watcher.check(claims)).toBe('revoked');
  });

  it('state is confirmed as of the call, not as of a poll that began before the clock moved', async () => {
    const w = heldReads();
    let now = 0;
    const watcher = new RevocationWatcher({ store: w.store, clock: () => now, logger: w.logger });
    expect(await watcher.check(claims)).toBe('ok');
    w.hold();
    const underWay = watcher.pollNow();
    now = 240_000;
    const asked = watcher.pollNow();
    w.release();
    await Promise.all([underWay, asked]);
    expect(await watcher.check(claims)).toBe('ok');
  });
});
