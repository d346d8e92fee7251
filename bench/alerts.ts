/**
 * Alert latency (issue 10, Bench): the time from the start of an anomaly to its signed
 * webhook at a loopback receiver, over many trials. Each trial mints a fresh token and sends
 * it from a refused origin 20 times at once (the `refusal-burst` default); the clock starts
 * before the first request and stops when the receiver has the alert naming that token and
 * its `Egg-Signature` holds. Each starts at a random point of the proxy's batch interval.
 * `egg proxy serve` (built CLI) runs as a child process on a local
 * vault with its defaults (usage sent once a second); this process is the upstream, the
 * receiver and the load.
 *
 * Run alone: `npm run build && node --import ./test/support/ts-hooks.mjs bench/alerts.ts`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alertsOn, openBackend, openTokens, openVault } from '../src/backends/open-backend.js';
import { resolveConfig } from '../src/config.js';
import { percentile } from './support/measure.js';

const EGG_BIN = join(fileURLToPath(new URL('..', import.meta.url)), 'cli/bin/egg.js');
const NAMESPACE = 'bench/alerts';

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function signatureHolds(secret: string, header: string, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (match === null) return false;
  const mac = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(mac, Buffer.from(match[2]!, 'hex'));
}

function refused(agent: http.Agent, url: URL, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { agent, headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface AlertsBench {
  rows: [string, string, string][];
}

export async function benchAlerts(options: { quick?: boolean } = {}): Promise<AlertsBench> {
  const trials = options.quick ? 10 : 50;
  const base = mkdtempSync(join(tmpdir(), 'egg-bench-alerts-'));
  const env = { ...process.env, EGG_HOME: join(base, 'home'), EGG_NAMESPACE: NAMESPACE, FORCE_COLOR: '0' };
  const arrivals = new Map<string, { at: number; signed: boolean }>();
  let secret = '';
  const upstream = http.createServer((_req, res) => res.writeHead(200).end('{}'));
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString();
      const alert = JSON.parse(body) as { tokenId: string };
      arrivals.set(alert.tokenId, {
        at,
        signed: signatureHolds(secret, String(req.headers['egg-signature']), body),
      });
      res.writeHead(204).end();
    });
  });
  let proxy: ChildProcess | undefined;
  try {
    const [upstreamUrl, receiverUrl] = await Promise.all([listen(upstream), listen(receiver)]);
    const config = resolveConfig({ env, home: env.EGG_HOME, cwd: base });
    const opened = await openVault(config, { actor: 'bench' }, { create: true });
    await opened.vault.set('BENCH_KEY', Buffer.from(`sk-bench-${randomBytes(16).toString('hex')}`), {
      upstream: upstreamUrl,
    });
    await opened.close();
    const backend = await openBackend(config, { actor: 'bench' });
    try {
      secret = (await (await alertsOn(backend)).addWebhook(NAMESPACE, `${receiverUrl}/egg`)).secret;
    } finally {
      await backend.close();
    }
    // The first mint makes the signing key the proxy needs to start.
    const tokens = await openTokens(config, { actor: 'bench' });
    const mint = () =>
      tokens.tokens.mint({
        key: 'BENCH_KEY',
        origins: ['https://app.example.com'],
        ttlSeconds: 3600,
        rps: 1000,
        spend: 1e6,
      });
    await mint();
    proxy = spawn(process.execPath, [EGG_BIN, 'proxy', 'serve', '--port', '0'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = new URL(
      await new Promise<string>((resolve, reject) => {
        proxy!.once('exit', (code) => reject(new Error(`egg proxy serve exited (${code}): ${stderr}`)));
        proxy!.stderr!.on('data', (c: Buffer) => {
          stderr += c.toString();
          const match = /listening on (http:\/\/\S+)/.exec(stderr);
          if (match) resolve(match[1]!);
        });
      }),
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const latencies: number[] = [];
    let unsigned = 0;
    try {
      for (let i = 0; i < trials; i++) {
        const { token, id } = await mint();
        // Start each anomaly at a random point of the proxy's once-a-second batch, as an attack
        // would: back to back, every trial would start just after a batch and wait a whole one.
        await new Promise((r) => setTimeout(r, Math.random() * 1000));
        const t0 = performance.now();
        const statuses = await Promise.all(Array.from({ length: 20 }, () => refused(agent, url, token)));
        if (statuses.some((s) => s !== 403)) throw new Error(`expected 403s, got ${statuses.join(',')}`);
        const deadline = t0 + 10_000;
        while (!arrivals.has(id) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        const arrival = arrivals.get(id);
        if (arrival === undefined) throw new Error(`no alert for trial ${i} within 10 s`);
        if (!arrival.signed) unsigned++;
        latencies.push(arrival.at - t0);
      }
    } finally {
      agent.destroy();
      await tokens.close();
    }
    const f = (x: number) => x.toFixed(0);
    return {
      rows: [
        [
          `alert latency, refusal burst → signed webhook (${trials} trials, local)`,
          `p50 ${f(percentile(latencies, 50))} ms · p99 ${f(percentile(latencies, 99))} ms · max ${f(Math.max(...latencies))} ms · ${unsigned} unsigned`,
          'p99 ≤ 5 s (aim ≤ 1 s)',
        ],
      ],
    };
  } finally {
    proxy?.kill('SIGTERM');
    await Promise.all(
      [upstream, receiver].map((s) => new Promise((resolve) => (s.closeAllConnections(), s.close(resolve)))),
    );
    rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows } = await benchAlerts({ quick: process.env.EGG_BENCH_QUICK === '1' });
  for (const [a, b, c] of rows) process.stdout.write(`| ${a} | ${b} | ${c} |\n`);
}
