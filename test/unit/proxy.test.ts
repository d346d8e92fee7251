import { describe, expect, it, vi } from 'vitest';
import { InactivityWatch } from '../../src/proxy/inactivity.js';
import { batchedLineWriter } from '../../src/proxy/log-writer.js';
import { RevocationWatcher } from '../../src/proxy/revocation.js';
import type { RevocationState } from '../../src/tokens/token-store.js';

describe('request log writer', () => {
  it('writes the lines of a few milliseconds in one write, in order', () => {
    vi.useFakeTimers();
    try {
      const writes: string[] = [];
      const lines = batchedLineWriter((chunk) => writes.push(chunk), { maxDelayMs: 20 });
      lines.write('a\n');
      vi.advanceTimersByTime(10);
      lines.write('b\n');
      vi.advanceTimersByTime(9);
      expect(writes).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(writes).toEqual(['a\nb\n']);
      lines.write('c\n');
      lines.flush();
      expect(writes).toEqual(['a\nb\n', 'c\n']);
      lines.flush();
      vi.advanceTimersByTime(100);
      expect(writes).toEqual(['a\nb\n', 'c\n']);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes at once when the batch reaches its size bound', () => {
    const writes: string[] = [];
    const lines = batchedLineWriter((chunk) => writes.push(chunk), { maxBytes: 4 });
    lines.write('ab\n');
    expect(writes).toEqual([]);
    lines.write('c\n');
    expect(writes).toEqual(['ab\nc\n']);
  });
});

describe('upstream inactivity watch', () => {
  interface Item {
    name: string;
    lastTick: number;
    watchPrev: Item | null;
    watchNext: Item | null;
  }
  const item = (name: string): Item => ({ name, lastTick: 0, watchPrev: null, watchNext: null });

  it('cuts what stays silent for the bound, never before it, and nothing that shows activity', () => {
    vi.useFakeTimers();
    try {
      const cut: string[] = [];
      const watch = new InactivityWatch<Item>(1000, (i) => cut.push(i.name));
      const silent = item('silent');
      const busy = item('busy');
      watch.add(silent);
      watch.add(busy);
      for (let ms = 0; ms < 990; ms += 30) {
        vi.advanceTimersByTime(30);
        busy.lastTick = watch.tick;
      }
      expect(cut).toEqual([]);
      // Ticks are a tenth of the bound: cut within two ticks past it.
      vi.advanceTimersByTime(210);
      expect(cut).toEqual(['silent']);
      vi.advanceTimersByTime(5000);
      expect(cut).toEqual(['silent', 'busy']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('forgets what is done, and stops its timer once nothing is watched', () => {
    vi.useFakeTimers();
    try {
      const cut: string[] = [];
      const watch = new InactivityWatch<Item>(200, (i) => cut.push(i.name));
      const [a, b, c] = [item('a'), item('b'), item('c')];
      watch.add(a);
      watch.add(b);
      watch.add(c);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(100);
      // From the middle, the front and the back; twice is harmless.
      watch.delete(b);
      watch.delete(a);
      watch.delete(a);
      watch.delete(c);
      expect([a, b, c].map((i) => [i.watchPrev, i.watchNext])).toEqual([
        [null, null],
        [null, null],
        [null, null],
      ]);
      vi.advanceTimersByTime(1000);
      expect(cut).toEqual([]);
      expect(vi.getTimerCount()).toBe(0);
      watch.add(b);
      watch.add(c);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(100);
      watch.delete(c);
      vi.advanceTimersByTime(300);
      expect(cut).toEqual(['b']);
      watch.add(a);
      watch.close();
      expect(vi.getTimerCount()).toBe(0);
      expect([a.watchPrev, a.watchNext]).toEqual([null, null]);
    } finally {
      vi.useRealTimers();
    }
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
