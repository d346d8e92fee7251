/**
 * A real browser: Debian's headless Chromium, driven by `playwright-core`, loads a page from
 * an origin the token allows (http://127.0.0.1:<p1>) and one from an origin it does not
 * (http://localhost:<p2>). Both pages call the proxy with the same token, from the page
 * itself (`fetch`, so the browser sends the page's `Origin` and runs CORS). The first gets the
 * upstream's answer; the second is refused (403 without `Access-Control-Allow-Origin`, which
 * the page sees as a CORS failure) and the upstream is never called for it.
 *
 * Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it when it can).
 * Without it the suite is skipped, and says so.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import {
  createWorld,
  KEY_NAME,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CANARY_KEY = 'sk-browser-canary-71c2a9d4-DO-NOT-LEAK';
const SKIP_REASON = `SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium)`;

if (!HAVE_CHROMIUM)
  console.warn(`proxy-browser.test.ts: ${SKIP_REASON}; the real-browser CORS test does not run.`);

/** What a page's `fetch` to the proxy came to, as the page saw it. */
type PageResult = { status: number; body: string } | { error: string };

/** A one-page site on 127.0.0.1 (reached as `host`), so the page has a real origin. */
async function startSite(host: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>app</title><p>app</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://${host}:${port}`, server };
}

const closeServer = (server: Server | undefined) =>
  server === undefined
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });

describe.skipIf(!HAVE_CHROMIUM)(
  `egg proxy and a real browser (headless Chromium)${HAVE_CHROMIUM ? '' : ` — ${SKIP_REASON}`}`,
  () => {
    let upstream: FakeUpstream;
    let world: ProxyWorld;
    let proxy: TestProxy;
    let allowed: { origin: string; server: Server };
    let denied: { origin: string; server: Server };
    let token: string;
    let context: BrowserContext;
    let profile: string;
    /** Every request the proxy answered: method, path, Origin and status. */
    const atProxy: {
      method: string;
      path: string;
      origin: string | undefined;
      status: number;
    }[] = [];

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      world = await createWorld('sqlite');
      await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
      proxy = await startTestProxy(world);
      proxy.server.on('request', (req: IncomingMessage, res: ServerResponse) =>
        res.once('finish', () =>
          atProxy.push({
            method: req.method ?? '',
            path: req.url ?? '',
            origin: req.headers.origin,
            status: res.statusCode,
          }),
        ),
      );
      [allowed, denied] = await Promise.all([startSite('127.0.0.1'), startSite('localhost')]);
      token = await world.mint({ origins: [allowed.origin] });
      profile = mkdtempSync(join(tmpdir(), 'egg-chromium-'));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        timeout: 60_000,
      });
    });
    afterAll(async () => {
      await context?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
      await Promise.all([closeServer(allowed?.server), closeServer(denied?.server)]);
      await proxy?.close();
      await world?.close();
      await upstream?.close();
    });

    /** Loads `origin`'s page and has it call the proxy with the token. */
    async function callFromPage(
      origin: string,
    ): Promise<{ result: PageResult; fromProxy: { status: number; acao: string | undefined } | undefined }> {
      const page = await context.newPage();
      let fromProxy: { status: number; acao: string | undefined } | undefined;
      page.on('response', (response) => {
        if (response.request().method() === 'POST' && response.url().startsWith(proxy.url))
          fromProxy = { status: response.status(), acao: response.headers()['access-control-allow-origin'] };
      });
      try {
        await page.goto(`${origin}/`);
        expect(await page.evaluate('location.origin')).toBe(origin);
        const result = await page.evaluate(
          async ({ url, token }) => {
            try {
              const res = await fetch(url, {
                method: 'POST',
                headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
                body: JSON.stringify({ model: 'gpt-fake', messages: [{ role: 'user', content: 'hi' }] }),
              });
              return { status: res.status, body: await res.text() };
            } catch (error) {
              return { error: String(error) };
            }
          },
          { url: `${proxy.url}/v1/chat/completions`, token },
        );
        return { result, fromProxy };
      } finally {
        await page.close();
      }
    }

    it('a page from an allowed origin gets the upstream answer; the upstream saw the real key', async () => {
      const before = upstream.requests.length;
      const seenBefore = atProxy.length;
      const { result, fromProxy } = await callFromPage(allowed.origin);
      // The page may read the answer only because the proxy sent Access-Control-Allow-Origin
      // for it (the header itself is not exposed to scripts).
      expect(result).toMatchObject({ status: 200 });
      const body = JSON.parse((result as { body: string }).body) as {
        choices: { message: { content: string } }[];
      };
      expect(body.choices[0]!.message.content).toBe('hello from upstream');
      expect(upstream.requests.length).toBe(before + 1);
      const seen = upstream.requests[before]!;
      expect(seen.path).toBe('/v1/chat/completions');
      expect(seen.headers.authorization).toBe(`Bearer ${CANARY_KEY}`);
      expect(JSON.stringify(seen.headers)).not.toContain(token);
      expect(atProxy.slice(seenBefore).find((r) => r.method === 'POST')).toEqual({
        method: 'POST',
        path: '/v1/chat/completions',
        origin: allowed.origin,
        status: 200,
      });
      // What the browser got from the proxy: the page's origin allowed, by name.
      expect(fromProxy).toMatchObject({ status: 200, acao: allowed.origin });
    });

    it('a page from another origin is refused (CORS failure, 403) and the upstream is never called', async () => {
      const before = upstream.requests.length;
      const seenBefore = atProxy.length;
      const { result, fromProxy } = await callFromPage(denied.origin);
      // The browser hides the 403 from the page: without Access-Control-Allow-Origin it is
      // a network error to the script.
      expect(result).toMatchObject({ error: expect.stringMatching(/Failed to fetch/) });
      expect(upstream.requests.length).toBe(before);
      // The browser did reach the proxy with the page's origin (after the preflight, which
      // grants nothing), and the proxy refused it: 403, no Access-Control-Allow-Origin.
      const seen = atProxy.slice(seenBefore);
      expect(seen.map((r) => r.method)).toEqual(['OPTIONS', 'POST']);
      expect(seen[1]).toEqual({
        method: 'POST',
        path: '/v1/chat/completions',
        origin: denied.origin,
        status: 403,
      });
      // Whatever Chromium reports for the blocked response, it never carried the origin's grant.
      expect(fromProxy?.acao).toBeUndefined();
    });
  },
);
