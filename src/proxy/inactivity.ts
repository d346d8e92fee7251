/**
 * Inactivity timeouts for the proxy's upstream requests (its 504, and the cut of a body
 * that goes silent), kept by one interval timer for every request in flight. Node's own
 * socket timeouts arm a timer on the upstream socket for each request, re-arm it on every
 * read and write and reset it when the socket goes back to the pool.
 *
 * Time is counted in ticks of a tenth of the bound (10 ms to 1 s). Activity is recorded by
 * copying `tick` (a field read, no clock); a request is cut at the first tick that finds it
 * silent for `timeoutMs` or more: not early (to the event loop's millisecond), at most two
 * ticks late, and a late timer only makes the wait longer. The timer stops at the first
 * tick with nothing to watch.
 *
 * The watched are linked through their own fields, as Node links its timers, rather than
 * kept in a Set: a Set that turns over with every request leaves its replaced tables in the
 * old generation still pointing at young requests, which then survive every scavenge
 * (measured: scavenges ten times longer, promoting megabytes each).
 */

/** What is watched: its last activity, in ticks, and the watch's links (null when not watched). */
export interface Watched<T> {
  lastTick: number;
  watchPrev: T | null;
  watchNext: T | null;
}

export class InactivityWatch<T extends Watched<T>> {
  /** Ticks so far: set `lastTick` to it on activity. */
  tick = 0;
  readonly #tickMs: number;
  readonly #limit: number;
  readonly #onTimeout: (item: T) => void;
  #head: T | null = null;
  #tail: T | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, onTimeout: (item: T) => void) {
    this.#tickMs = Math.min(1000, Math.max(10, Math.floor(timeoutMs / 10)));
    // Activity just before a tick is already one tick old at it: one tick more, never early.
    this.#limit = Math.ceil(timeoutMs / this.#tickMs) + 1;
    this.#onTimeout = onTimeout;
  }

  /** Watch `item` from now. */
  add(item: T): void {
    if (this.#head === item || item.watchPrev !== null) return;
    item.lastTick = this.tick;
    item.watchNext = null;
    item.watchPrev = this.#tail;
    if (this.#tail === null) this.#head = item;
    else this.#tail.watchNext = item;
    this.#tail = item;
    this.#timer ??= setInterval(() => this.#sweep(), this.#tickMs).unref();
  }

  /** Stop watching `item` (done, failed or cut); nothing if it is not watched. */
  delete(item: T): void {
    const prev = item.watchPrev;
    const next = item.watchNext;
    if (prev === null && this.#head !== item) return;
    if (prev === null) this.#head = next;
    else prev.watchNext = next;
    if (next === null) this.#tail = prev;
    else next.watchPrev = prev;
    item.watchPrev = null;
    item.watchNext = null;
  }

  /** Stop the timer; the watched are let go. */
  close(): void {
    while (this.#head !== null) this.delete(this.#head);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    if (this.#head === null) {
      this.close();
      return;
    }
    const tick = ++this.tick;
    let item: T | null = this.#head;
    while (item !== null) {
      const next: T | null = item.watchNext;
      if (tick - item.lastTick >= this.#limit) {
        this.delete(item);
        this.#onTimeout(item);
      }
      item = next;
    }
  }
}
