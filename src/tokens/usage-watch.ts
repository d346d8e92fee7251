/**
 * `egg tokens usage --watch`: read the usage report every interval until the signal fires.
 * What a refresh shows (a frame redrawn in place on a terminal, lines elsewhere, JSON lines)
 * is the caller's; a failed read is reported and the next interval tries again, so a store
 * that blinks does not end the watch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { UsageReport } from './usage-store.js';

export interface WatchUsageOptions {
  read: () => Promise<UsageReport>;
  intervalMs: number;
  /** Stops the watch: the wait ends at once, a read in flight is let finish and not shown. */
  signal: AbortSignal;
  onReport: (report: UsageReport) => void;
  onError: (error: unknown) => void;
}

/** Refresh until `signal` fires; resolves with how many reports were shown. */
export async function watchUsage(o: WatchUsageOptions): Promise<number> {
  let shown = 0;
  while (!o.signal.aborted) {
    try {
      const report = await o.read();
      if (o.signal.aborted) break;
      o.onReport(report);
      shown++;
    } catch (error) {
      if (!o.signal.aborted) o.onError(error);
    }
    await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
  }
  return shown;
}
