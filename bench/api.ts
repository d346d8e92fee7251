/**
 * The service mode's figures (issue 16): a pull of 100 secrets through `egg api serve` on
 * loopback (the built CLI, its own process) in round trips and as a ratio to the direct mode
 * (the library's pull on the same SQLite vault, in this process) in the same run; and the
 * API's requests per second at saturation, per core of the server's CPU time. Each request
 * is a `GET` of one secret: JWT verified, membership read, value decrypted, its data key
 * rotated, an audit record appended. The reads run on two servers over the same vault,
 * interleaved: one counting every call against its caller's limit (set too high to refuse,
 * so each call pays the count and nothing else), one with the limit off (`--sub-rps 0`): the
 * limit's cost is their ratio.
 *
 * Run alone: `npm run build && node --import ./test/support/ts-hooks.mjs bench/api.ts`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openVault } from '../src/backends/open-backend.js';
import { resolveConfig } from '../src/config.js';
import { wipe } from '../src/crypto/wipe.js';
import { startFakeJwks } from '../test/support/fake-jwks.js';
import { cpuMs, start } from './proxy.js';
import { median } from './support/measure.js';

const EGG_BIN = join(fileURLToPath(new URL('..', import.meta.url)), 'cli/bin/egg.js');
const NAMESPACE = 'bench/api';
const PATH = `/v1/namespaces/${encodeURIComponent(NAMESPACE)}`;

export interface ApiFigures {
  secrets: number;
  directMs: number;
  apiMs: number;
  /** HTTP requests one API pull takes. */
  roundTrips: number;
  rps: number;
  /** Direct-mode reads per second of the same secrets at the same concurrency, in this process. */
  directRps: number;
  /** Requests per second of the server's CPU time (user + system). */
  rpsPerCore: number;
  /** The same reads on a server with no limit per caller. */
  unlimitedRps: number;
  unlimitedRpsPerCore: number;
  connections: number;
}

function send(agent: http.Agent, base: URL, token: string, method: string, path: string, body?: unknown) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        path,
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(text === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const secretName = (i: number) => `S_${String(i).padStart(3, '0')}`;

/** Closed loop: `workers` running `work` back to back for `ms`; completions per second. */
async function saturate(
  workers: number,
  ms: number,
  work: (worker: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < end) {
        await work(worker);
        done++;
      }
    }),
  );
  return (done * 1000) / (performance.now() - t0);
}

export async function benchApi(
  options: { secrets?: number; trials?: number; seconds?: number; connections?: number } = {},
): Promise<ApiFigures> {
  const count = options.secrets ?? 100;
  const trials = options.trials ?? 7;
  const connections = options.connections ?? 8;
  const dir = mkdtempSync(join(tmpdir(), 'egg-bench-api-'));
  const home = join(dir, 'home');
  const issuer = await startFakeJwks();
  let server: ChildProcess | undefined;
  let unlimited: ChildProcess | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  try {
    const env = { ...process.env, EGG_HOME: home, FORCE_COLOR: '0' };
    const args = [EGG_BIN, 'api', 'serve', '--port', '0', '--issuer', issuer.issuer, '--audience', 'egg-cli'];
    const serve = await start(
      [...args, '--sub-rps', '1000000000', '--sub-burst', '1000000000'],
      env,
      /listening on (http:\/\/\S+)/,
    );
    server = serve.child;
    const base = new URL(serve.url);
    const token = await issuer.sign({
      sub: 'bench',
      aud: 'egg-cli',
      exp: Math.floor(Date.now() / 1000) + 3600,
    });
    const ok = async (method: string, path: string, body?: unknown, at = base) => {
      const answer = await send(agent, at, token, method, path, body);
      if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${answer.text}`);
      return answer.text;
    };
    await ok('PUT', PATH);
    for (let i = 0; i < count; i++)
      await ok('PUT', `${PATH}/secrets/${secretName(i)}`, {
        value: Buffer.from(`value-${i}-${'x'.repeat(40)}`).toString('base64'),
      });

    const config = resolveConfig({ env: { EGG_HOME: home, EGG_NAMESPACE: NAMESPACE }, home, cwd: dir });
    const { vault, close } = await openVault(config, { actor: 'bench' });
    const direct: number[] = [];
    const api: number[] = [];
    const ms = (options.seconds ?? 3) * 1000;
    let directRps: number;
    try {
      // Interleaved, one warm-up each, so noise falls on both alike.
      for (let i = 0; i <= trials; i++) {
        let t0 = performance.now();
        const pulled = await vault.pull();
        if (i > 0) direct.push(performance.now() - t0);
        for (const secret of pulled.secrets) wipe(secret.value);
        t0 = performance.now();
        const text = await ok('POST', `${PATH}/pull`, {});
        if (i > 0) api.push(performance.now() - t0);
        if ((JSON.parse(text) as { secrets: unknown[] }).secrets.length !== count)
          throw new Error('short pull');
      }
      directRps = await saturate(connections, ms, async (worker) => {
        wipe((await vault.get(secretName(worker % count))).value);
      });
    } finally {
      await close();
    }

    const off = await start([...args, '--sub-rps', '0'], env, /listening on (http:\/\/\S+)/);
    unlimited = off.child;
    const offBase = new URL(off.url);
    const reads = (at: URL, child: ChildProcess) => {
      const totals = { done: 0, ms: 0, cpu: 0 };
      return {
        totals,
        run: async () => {
          const cpu0 = cpuMs(child.pid!);
          const rate = await saturate(connections, ms, async (worker) => {
            await ok('GET', `${PATH}/secrets/${secretName(worker % count)}`, undefined, at);
          });
          totals.cpu += cpuMs(child.pid!) - cpu0;
          totals.done += (rate * ms) / 1000;
          totals.ms += ms;
        },
      };
    };
    const on = reads(base, server);
    const none = reads(offBase, unlimited);
    // Interleaved, so noise falls on both alike.
    for (let round = 0; round < 2; round++) {
      await on.run();
      await none.run();
    }
    const rateOf = (t: { done: number; ms: number }) => (t.done * 1000) / t.ms;
    const perCore = (t: { done: number; cpu: number }) => (t.cpu > 0 ? (t.done * 1000) / t.cpu : Number.NaN);
    const rps = rateOf(on.totals);
    return {
      secrets: count,
      directMs: median(direct),
      apiMs: median(api),
      roundTrips: 1,
      rps,
      directRps,
      rpsPerCore: perCore(on.totals),
      unlimitedRps: rateOf(none.totals),
      unlimitedRpsPerCore: perCore(none.totals),
      connections,
    };
  } finally {
    agent.destroy();
    server?.kill('SIGTERM');
    unlimited?.kill('SIGTERM');
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await benchApi();
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}
