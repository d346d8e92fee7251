import { describe, expect, it } from 'vitest';
import { batchedLineWriter } from '../../src/proxy/log-writer.js';
import { RevocationWatcher } from '../../src/proxy/revocation.js';
import type { RevocationState } from '../../src/tokens/token-store.js';

describe('request log writer', () => {
  it('writes the lines of one event-loop turn in one write, in order', async () => {
    const writes: string[] = [];
    const lines = batchedLineWriter((chunk) => writes.push(chunk));
    lines.write('a\n');
    lines.write('b\n');
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['a\nb\n']);
    lines.write('c\n');
    lines.flush();
    expect(writes).toEqual(['a\nb\n', 'c\n']);
  });
});

describe('revocation watcher', () => {
  function fakeStore() {
    const state: RevocationState = { version: 0, notBefore: 0, revoked: new Map() };
    let down = false;
    const gate = () => {
      if (down) throw new Error('down');
    };
    return {
      state,
      setDown: (value: boolean) => (down = value),
      store: {
        revocationVersion: async () => (gate(), { version: state.version, notBefore: state.notBefore }),
        revocationState: async () => (gate(), { ...state, revoked: new Map(state.revoked) }),
      },
    };
  }
  const claims = { jti: 'a'.repeat(22), sub: 'acme/web', iat: 1000 };

  it('sees a revocation and the kill switch at the next poll', async () => {
    const fake = fakeStore();
    const watcher = new RevocationWatcher({ store: fake.store, clock: () => 0 });
    expect(await watcher.check(claims)).toBe('ok');
    fake.state.revoked.set(claims.jti, 2000);
    fake.state.version = 1;
    expect(await watcher.check(claims)).toBe('ok');
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('revoked');
    expect(await watcher.check({ ...claims, jti: 'b'.repeat(22) })).toBe('ok');
    fake.state.notBefore = 1001;
    fake.state.version = 2;
    await watcher.pollNow();
    expect(await watcher.check({ ...claims, jti: 'b'.repeat(22) })).toBe('revoked');
    expect(await watcher.check({ ...claims, jti: 'b'.repeat(22), iat: 1001 })).toBe('ok');
  });

  it('fails closed once state is older than the bound, and when the first read fails', async () => {
    const fake = fakeStore();
    let now = 0;
    const watcher = new RevocationWatcher({ store: fake.store, clock: () => now, maxStaleMs: 5000 });
    expect(await watcher.check(claims)).toBe('ok');
    fake.setDown(true);
    now = 4000;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('ok');
    now = 5001;
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('unavailable');
    expect(await watcher.check({ ...claims, sub: 'other/ns' })).toBe('unavailable');
    fake.setDown(false);
    await watcher.pollNow();
    expect(await watcher.check(claims)).toBe('ok');
  });
});
