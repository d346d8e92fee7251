/**
 * `egg proxy serve` as a process (built CLI): it stops within its bound on SIGTERM even with
 * upstream requests stuck (issue 9, item 3), and Node's lenient parser flag cannot reopen
 * request smuggling (item 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { egg } from '../support/cli.js';
import { startServe } from '../support/proxy-serve.js';
import { connectRaw, sendRaw } from '../support/raw-client.js';
import { type RawUpstream, startRawUpstream } from '../support/raw-upstream.js';

const KEY = 'sk-serve-canary-5b9e21d4-DO-NOT-LEAK';
const ORIGIN = 'https://app.example.com';

const head = (method: string, path: string, token: string, framing = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: proxy.test\r\nOrigin: ${ORIGIN}\r\nAuthorization: Bearer ${token}\r\n${framing}\r\n`;

describe('egg proxy serve as a process', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  let upstream: RawUpstream;
  let token: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-serve-e2e-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
    upstream = await startRawUpstream();
    expect(egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', upstream.url], { env, input: KEY }).code).toBe(
      0,
    );
    const minted = egg(
      ['tokens', 'mint', '--key', 'OPENAI_KEY', '--origin', ORIGIN, '--rps', '100', '--spend', '1000'],
      { env },
    );
    expect(minted.code).toBe(0);
    token = minted.stdout.trim();
  });
  afterAll(async () => {
    await upstream?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('exits on SIGTERM within its bound while a client is mid-body and an upstream never answers', async () => {
    const proxy = await startServe(env);
    // One client declared 4096 bytes, sent 10, got an early answer and stays, silent…
    const halfway = await connectRaw(proxy.url);
    halfway.write(head('POST', '/early', token, 'Content-Length: 4096\r\n') + '0123456789');
    expect((await halfway.reply()).status).toBe(200);
    // …another waits on an upstream that never answers.
    const waiting = await connectRaw(proxy.url);
    waiting.write(head('GET', '/hang', token));
    await vi.waitFor(() => expect(upstream.requests.map((r) => r.path)).toContain('/hang'), {
      timeout: 10_000,
    });
    try {
      proxy.child.kill('SIGTERM');
      // The documented bound is 5 s (2 s of grace, then 3 s to close); 20 s only keeps a
      // loaded machine from failing the test: what is asserted is that it exits, cleanly.
      expect(await proxy.exited(20_000)).toEqual({ code: 0, signal: null });
      await waiting.closed;
      await vi.waitFor(() => expect(upstream.open()).toBe(0), { timeout: 10_000 });
      expect(proxy.stdout()).not.toContain(KEY);
      expect(proxy.stderr()).not.toContain(KEY);
    } finally {
      halfway.close();
      waiting.close();
    }
  });

  it('refuses Content-Length with Transfer-Encoding even when started with --insecure-http-parser', async () => {
    const proxy = await startServe({ ...env, NODE_OPTIONS: '--insecure-http-parser' });
    try {
      const before = upstream.requests.length;
      const smuggled = 'GET /attacker-chosen HTTP/1.1\r\nHost: x\r\nX-Absorb: ';
      const reply = await sendRaw(
        proxy.url,
        head(
          'POST',
          '/carrier',
          token,
          `Content-Length: ${smuggled.length + 5}\r\nTransfer-Encoding: chunked\r\n`,
        ) + `0\r\n\r\n${smuggled}`,
      );
      expect(reply.status).toBe(400);
      expect(upstream.requests.length).toBe(before);
    } finally {
      proxy.child.kill('SIGTERM');
      await proxy.exited(20_000);
    }
  });
});
