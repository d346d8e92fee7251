/**
 * Upstream connection pools, one per provider key (its namespace and secret name), so an
 * upstream socket is never shared between keys, let alone namespaces (DESIGN: "Upstream
 * sockets are never shared between namespaces"; issue 9, item 1). Whatever one token holder
 * manages to leave on a keep-alive socket can only meet requests that carry the same key,
 * and one key's requests stuck upstream fill only that key's pool (item 3).
 *
 * Bounded: a pool unused for `idleMs` with no request in flight is destroyed at the next
 * sweep; past `maxPools`, the pool used longest ago is retired (destroyed once its requests
 * finish) to make room. `close()` destroys every socket, in flight or not.
 */
import http from 'node:http';
import https from 'node:https';

export interface UpstreamPoolsOptions {
  /** Most pools kept (default 1024). */
  maxPools?: number;
  /** A pool unused this long, with nothing in flight, is destroyed (default 60 s). */
  idleMs?: number;
  /** Sockets of one pool in flight at once; more requests wait (default 256). */
  maxSockets?: number;
}

interface Pool {
  http: http.Agent | undefined;
  https: https.Agent | undefined;
  /** The sweep count when it was last used. */
  used: number;
}

export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  /** Pools retired while requests were in flight: destroyed once those finish. */
  readonly #retired = new Set<Pool>();
  readonly #maxPools: number;
  readonly #idleSweeps: number;
  readonly #sweepMs: number;
  readonly #maxSockets: number;
  #sweeps = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: UpstreamPoolsOptions = {}) {
    this.#maxPools = options.maxPools ?? 1024;
    const idleMs = options.idleMs ?? 60_000;
    this.#sweepMs = Math.max(10, Math.floor(idleMs / 2));
    // Unused for two whole sweeps: at least idleMs, at most 1.5 × idleMs.
    this.#idleSweeps = 2;
    this.#maxSockets = options.maxSockets ?? 256;
  }

  /** The agent for the key's pool (`pool` names it: namespace and secret name), over TLS when `secure`. */
  agent(pool: string, secure: boolean): http.Agent {
    if (this.#closed) throw new Error('the upstream pools are closed');
    let entry = this.#pools.get(pool);
    if (entry === undefined) {
      if (this.#pools.size >= this.#maxPools) this.#retireOldest();
      entry = { http: undefined, https: undefined, used: this.#sweeps };
      this.#pools.set(pool, entry);
      this.#timer ??= setInterval(() => this.#sweep(), this.#sweepMs).unref();
    } else entry.used = this.#sweeps;
    const options = { keepAlive: true, maxSockets: this.#maxSockets };
    if (secure) return (entry.https ??= new https.Agent(options));
    return (entry.http ??= new http.Agent(options));
  }

  /** How many pools there are (retired ones still finishing included). */
  get size(): number {
    return this.#pools.size + this.#retired.size;
  }

  /** Destroy every pool and every socket in it, in flight or not. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const pool of this.#pools.values()) destroy(pool);
    for (const pool of this.#retired) destroy(pool);
    this.#pools.clear();
    this.#retired.clear();
  }

  #retireOldest(): void {
    let oldest: [string, Pool] | undefined;
    for (const entry of this.#pools)
      if (oldest === undefined || entry[1].used < oldest[1].used) oldest = entry;
    if (oldest === undefined) return;
    this.#pools.delete(oldest[0]);
    if (busy(oldest[1])) this.#retired.add(oldest[1]);
    else destroy(oldest[1]);
  }

  #sweep(): void {
    const sweeps = ++this.#sweeps;
    for (const [name, pool] of this.#pools) {
      if (sweeps - pool.used >= this.#idleSweeps && !busy(pool)) {
        this.#pools.delete(name);
        destroy(pool);
      }
    }
    for (const pool of this.#retired) {
      if (!busy(pool)) {
        this.#retired.delete(pool);
        destroy(pool);
      }
    }
    if (this.#pools.size === 0 && this.#retired.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** Whether a request of the pool is in flight or waiting for a socket. */
function busy(pool: Pool): boolean {
  for (const agent of [pool.http, pool.https]) {
    if (agent === undefined) continue;
    for (const sockets of Object.values(agent.sockets))
      if (sockets !== undefined && sockets.length > 0) return true;
    for (const queued of Object.values(agent.requests))
      if (queued !== undefined && queued.length > 0) return true;
  }
  return false;
}

function destroy(pool: Pool): void {
  pool.http?.destroy();
  pool.https?.destroy();
}
