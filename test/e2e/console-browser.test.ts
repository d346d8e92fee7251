/**
 * `egg console` (the built CLI) in a real browser: Debian's headless Chromium through
 * `playwright-core`, with `egg proxy serve` running on the same EGG_HOME and a loopback
 * provider behind it. The session: no secret, no page; the one-time link works once. A form
 * posted from another site, and from another port of 127.0.0.1, is refused and changes
 * nothing. Names an attacker stored show as text and run nothing (and CSP stops an inline
 * handler even when one reaches the DOM). A token minted in the page works through the proxy,
 * its requests show in the chart, and one click on Revoke makes the proxy refuse it. The audit
 * page shows the unanchored tail, filters and exports. Screenshots of each page go to a
 * temporary directory, or to docs/console/ with EGG_UPDATE_SCREENSHOTS=1 (so that a test run
 * leaves the checkout as it found it).
 *
 * Needs /usr/bin/chromium; without it the suite is skipped, and says so.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import { egg, findLeaks } from '../support/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type ServeProcess, startListening, startServe } from '../support/proxy-serve.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIP_REASON = `SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium)`;
const NAMESPACE = 'acme/web';
const PROVIDER_KEY = 'sk-console-canary-5d0e7f12';
/** The provider key typed into the page: it must never leave the browser unsealed. */
const SEALED_CANARY = 'sk-sealed-in-browser-9b3f2c71-DO-NOT-LEAK';
const UPDATE_SHOTS = process.env.EGG_UPDATE_SCREENSHOTS === '1';
/** Where screenshots go: docs/console/, or a temporary directory made when the suite starts. */
let SHOTS: URL | undefined;
function shot(name: string): string {
  if (SHOTS === undefined) throw new Error('the browser suite has not started');
  return new URL(name, SHOTS).pathname;
}
/** A tag and an injection template as a hostile writer would store them. */
const HOSTILE_TAG = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_INJECT = 'x-note: <img src=x onerror=window.__pwned=2>{}';

if (!HAVE_CHROMIUM)
  console.warn(`console-browser.test.ts: ${SKIP_REASON}; the console's browser tests do not run.`);

/** A page updates on its own time (a 2 s poll; RSA work on a busy machine): wait for it, up to 15 s. */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 15_000, interval: 100 });

const closeServer = (server: Server | undefined) =>
  server === undefined
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });

/** A page on `host` (a 127.0.0.x address) holding a form that posts to `action` as text/plain. */
async function startAttacker(host: string, action: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    // text/plain forms post `name=value`: this one reads as {"confirm":"acme/web","x":"="}.
    res.end(
      `<!doctype html><title>attacker</title><form method="post" enctype="text/plain" action="${action}">` +
        `<input type="hidden" name='{"confirm":"${NAMESPACE}","x":"' value='"}'>` +
        '<button id="go">go</button></form>',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}/`, server };
}

/** A raw GET with any Host header (fetch would not let a test set it). */
function getWithHost(url: string, host: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host, cookie } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
}

describe.skipIf(!HAVE_CHROMIUM)(
  `egg console in a real browser (headless Chromium)${HAVE_CHROMIUM ? '' : ` — ${SKIP_REASON}`}`,
  () => {
    let base: string;
    let env: NodeJS.ProcessEnv;
    let upstream: FakeUpstream;
    let proxy: ServeProcess;
    let consoleProcess: ServeProcess;
    let origin: string;
    let browser: Browser;
    let owner: BrowserContext;
    let page: Page;
    const attackers: Server[] = [];
    /** Every console message and page error of the owner's page. */
    const messages: string[] = [];

    const auditActions = () =>
      (JSON.parse(egg(['audit', '--json'], { env }).stdout) as { action: string }[]).map((r) => r.action);

    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), 'egg-console-'));
      env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: NAMESPACE };
      upstream = await startFakeUpstream();
      const set = egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', upstream.url], {
        env,
        input: PROVIDER_KEY,
      });
      expect(set.code, set.stderr).toBe(0);
      const hostile = egg(
        ['secrets', 'set', 'NOTE_KEY', '--upstream', upstream.url, '--inject', HOSTILE_INJECT],
        {
          env,
          input: 'not-a-real-key',
        },
      );
      expect(hostile.code, hostile.stderr).toBe(0);
      // The proxy needs the signing key, which the first mint creates.
      const first = egg(
        ['tokens', 'mint', '--key', 'OPENAI_KEY', '--allow-no-origin', '--rps', '1', '--spend', '1'],
        {
          env,
        },
      );
      expect(first.code, first.stderr).toBe(0);
      // A token record written by a hostile (or older) minter, whose tag no validation saw.
      const store = new SqliteTokenStore(join(base, 'home', 'vault.db'));
      const now = Math.floor(Date.now() / 1000);
      await store.putToken({
        id: 'AAAAAAAAAAAAAAAAAAAAAA',
        digest: 'x'.repeat(43),
        namespace: NAMESPACE,
        key: 'OPENAI_KEY',
        origins: ['https://app.example.com'],
        rps: 1,
        burst: 1,
        spend: 10,
        cost: 1,
        iat: now,
        exp: now + 3600,
        tags: { note: HOSTILE_TAG },
        actor: 'test',
        allowNoOrigin: false,
      });
      await store.close();
      proxy = await startServe(env);
      consoleProcess = await startListening(
        ['console', '--no-open', '--port', '0'],
        env,
        /(http:\/\/127\.0\.0\.1:\d+\/\?secret=[\w-]+)/,
      );
      origin = new URL(consoleProcess.url).origin;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-sync',
        ],
        timeout: 60_000,
      });
      owner = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      page = await owner.newPage();
      page.on('console', (m) => messages.push(m.text()));
      page.on('pageerror', (e) => messages.push(String(e)));
      SHOTS = UPDATE_SHOTS
        ? new URL('../../docs/console/', import.meta.url)
        : pathToFileURL(`${mkdtempSync(join(tmpdir(), 'egg-console-shots-'))}/`);
      mkdirSync(SHOTS, { recursive: true });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await Promise.all(attackers.map(closeServer));
      consoleProcess?.child.kill('SIGTERM');
      proxy?.child.kill('SIGTERM');
      await consoleProcess?.exited(5000);
      await proxy?.exited(5000);
      await upstream?.close();
      if (base) rmSync(base, { recursive: true, force: true });
      if (!UPDATE_SHOTS && SHOTS !== undefined) rmSync(SHOTS, { recursive: true, force: true });
    });

    it('refuses every request without the one-time secret: 401 and no page content', async () => {
      const stranger = await browser.newContext();
      try {
        const p = await stranger.newPage();
        const response = await p.goto(`${origin}/`);
        expect(response?.status()).toBe(401);
        const html = await p.content();
        expect(html).not.toContain('app.js');
        expect(html).not.toContain(NAMESPACE);
        for (const path of ['/app.js', '/api/about', '/api/tokens', '/api/audit/export'])
          expect((await stranger.request.get(`${origin}${path}`)).status(), path).toBe(401);
        expect((await stranger.request.get(`${origin}/?secret=${'A'.repeat(43)}`)).status()).toBe(401);
      } finally {
        await stranger.close();
      }
    });

    it('trades the one-time secret for an HttpOnly, SameSite=Strict session cookie and a clean URL', async () => {
      const response = await page.goto(consoleProcess.url);
      expect(response?.status()).toBe(200);
      expect(page.url()).toBe(`${origin}/`);
      const [cookie] = await owner.cookies(origin);
      expect(cookie).toMatchObject({ name: 'egg_console', httpOnly: true, sameSite: 'Strict', path: '/' });
      await eventually(() => page.locator('[data-namespace]').textContent()).toBe(NAMESPACE);
      expect(response?.headers()['content-security-policy']).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
    });

    it('refuses the one-time link used a second time', async () => {
      const second = await browser.newContext();
      try {
        const p = await second.newPage();
        expect((await p.goto(consoleProcess.url))?.status()).toBe(401);
        expect(await second.cookies(origin)).toEqual([]);
        expect((await p.goto(`${origin}/`))?.status()).toBe(401);
      } finally {
        await second.close();
      }
    });

    it('refuses a Host other than 127.0.0.1 or localhost with the port (DNS rebinding), even with the session', async () => {
      const [cookie] = await owner.cookies(origin);
      const session = `${cookie!.name}=${cookie!.value}`;
      const port = new URL(origin).port;
      expect(await getWithHost(`${origin}/api/about`, `127.0.0.1:${port}`, session)).toBe(200);
      expect(await getWithHost(`${origin}/api/about`, `rebind.example:${port}`, session)).toBe(421);
      expect(await getWithHost(`${origin}/api/about`, '127.0.0.1', session)).toBe(421);
    });

    it('refuses a cross-site form post (a page on 127.0.0.2) and one from another port of 127.0.0.1', async () => {
      for (const [host, status] of [
        // Another site: SameSite=Strict keeps the cookie home, so there is no session.
        ['127.0.0.2', 401],
        // The same site, another origin: the cookie goes along; Origin and the CSRF token stop it.
        ['127.0.0.1', 403],
      ] as const) {
        const attacker = await startAttacker(host, `${origin}/api/killswitch`);
        attackers.push(attacker.server);
        const p = await owner.newPage();
        try {
          await p.goto(attacker.url);
          const [response] = await Promise.all([
            p.waitForResponse((r) => r.url() === `${origin}/api/killswitch`),
            p.click('#go'),
          ]);
          expect(response.status(), host).toBe(status);
        } finally {
          await p.close();
        }
      }
      expect(auditActions()).not.toContain('token.killswitch');
    });

    let token = '';
    let tokenId = '';

    it('mints a token from the form and shows it once; the token works through the proxy', async () => {
      await page.goto(`${origin}/#tokens`);
      await page.getByLabel('Provider key').selectOption('OPENAI_KEY');
      await page.getByLabel('Allowed origins (one a line)').fill('https://app.example.com');
      await page.getByLabel('Also allow clients that send no Origin (native apps)').check();
      await page.getByLabel('Lifetime').fill('15m');
      await page.getByLabel('Client addresses (optional)').fill('3');
      await page.getByLabel('Requests per second per address (optional)').fill('5');
      await page.getByLabel('Tags (key=value, space separated)').fill('app=web release=42');
      await page.getByRole('button', { name: 'Mint token' }).click();
      const shown = page.locator('[data-token-value]');
      await eventually(() => shown.inputValue()).toMatch(/^egg_/);
      token = await shown.inputValue();
      tokenId = ((await page.locator('.minted h3').textContent()) ?? '').replace('Token ', '');
      await page.screenshot({ path: shot('tokens-minted.png'), fullPage: true });
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${proxy.url}/v1/echo`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
      }
      expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
      await page.getByRole('button', { name: 'Done, hide it' }).click();
      expect(await page.locator('[data-token-value]').count()).toBe(0);
    });

    it('draws the requests just made in the token’s usage chart, without reloading', async () => {
      const row = page.locator(`tr[data-token="${tokenId}"]`);
      await expect
        .poll(() => row.locator('[data-field="requests"]').textContent(), { timeout: 15_000 })
        .toBe('3');
      expect(await row.locator('svg.chart').getAttribute('data-requests')).toBe('3');
      expect(await row.locator('svg.chart rect.bar.ok').count()).toBeGreaterThan(0);
      expect(await row.textContent()).toContain('3 / 1000');
      // The client limits the form set are the token's, as `egg tokens mint` would set them.
      expect(await row.locator('[data-field="max-clients"]').textContent()).toBe(
        'at most 3 client addresses a minute',
      );
      expect(await row.locator('[data-field="client-rps"]').textContent()).toBe('5/s per address');
      await page.screenshot({ path: shot('tokens.png'), fullPage: true });
    });

    it('shows names an attacker stored as text and runs none of them', async () => {
      const hostileRow = page.locator('tr[data-token="AAAAAAAAAAAAAAAAAAAAAA"]');
      await eventually(() => hostileRow.locator('ul.tags').textContent()).toBe(`note=${HOSTILE_TAG}`);
      await page.goto(`${origin}/#keys`);
      await eventually(() => page.locator('main table').textContent()).toContain(HOSTILE_INJECT.slice(8));
      expect(await page.evaluate('window.__pwned')).toBeUndefined();
    });

    it('blocks an inline handler by CSP even when markup reaches the DOM', async () => {
      messages.length = 0;
      await page.evaluate(
        `document.body.insertAdjacentHTML('beforeend', '<img id="csp-probe" src="/no-such-image" onerror="window.__pwned=3">')`,
      );
      await eventually(() => messages.join('\n')).toMatch(/Content Security Policy/);
      expect(await page.evaluate('window.__pwned')).toBeUndefined();
      await page.evaluate("document.getElementById('csp-probe').remove()");
    });

    it('revokes with one click, and the running proxy refuses the token', async () => {
      await page.goto(`${origin}/#tokens`);
      const revoke = page.getByRole('button', { name: `Revoke token ${tokenId}` });
      await revoke.click();
      const clicked = Date.now();
      let status = 0;
      while (status !== 401 && Date.now() - clicked < 10_000) {
        status = (await fetch(`${proxy.url}/v1/echo`, { headers: { authorization: `Bearer ${token}` } }))
          .status;
      }
      expect(status).toBe(401);
      console.info(`console revoke → proxy refusal: ${Date.now() - clicked} ms`);
      await expect
        .poll(() => page.locator(`tr[data-token="${tokenId}"] .badge`).first().textContent())
        .toBe('revoked');
      expect(auditActions()).toContain('token.revoke');
    });

    it('rotates with one click: the successor works at once and, with no grace, the old token stops', async () => {
      const minted = egg(
        [
          'tokens',
          'mint',
          '--key',
          'OPENAI_KEY',
          '--allow-no-origin',
          '--rps',
          '5',
          '--spend',
          '100',
          '--json',
        ],
        { env },
      );
      const old = JSON.parse(minted.stdout) as { token: string; id: string };
      await page.goto(`${origin}/#tokens`);
      await page.getByLabel('After a rotation, the old token keeps working for').selectOption('0');
      await page.getByRole('button', { name: `Rotate token ${old.id}` }).click();
      const shown = page.locator('[data-rotated] [data-token-value]');
      await eventually(() => shown.count()).toBe(1);
      const successor = await shown.inputValue();
      expect(successor).toMatch(/^egg_/);
      expect(successor).not.toBe(old.token);
      const call = async (t: string) =>
        (await fetch(`${proxy.url}/v1/echo`, { headers: { authorization: `Bearer ${t}` } })).status;
      expect(await call(successor)).toBe(200);
      let status = 0;
      for (const started = Date.now(); status !== 401 && Date.now() - started < 10_000;)
        status = await call(old.token);
      expect(status).toBe(401);
      expect(await call(successor)).toBe(200);
      expect(auditActions()).toContain('token.rotate');
    });

    it('shows the verification with its unanchored tail, filters the trail and exports it as JSON lines', async () => {
      expect(egg(['audit', 'checkpoint'], { env }).code).toBe(0);
      expect(egg(['secrets', 'set', 'LATER'], { env, input: 'x' }).code).toBe(0);
      await page.goto(`${origin}/#audit`);
      await eventually(() => page.locator('[data-unanchored]').getAttribute('data-unanchored')).toBe('1');
      expect(await page.locator('.verdict').textContent()).toContain('1 record after it is unanchored');
      expect(await page.locator('tr.unanchored').count()).toBe(1);
      await page.screenshot({ path: shot('audit.png'), fullPage: true });
      await page.getByLabel('Action contains').fill('token.revoke');
      await page.getByRole('button', { name: 'Filter' }).click();
      await eventually(() => page.locator('table.audit tbody tr').count()).toBe(1);
      expect(await page.locator('table.audit tbody tr').textContent()).toContain(tokenId);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name: 'Export as JSON lines' }).click(),
      ]);
      const lines = readFileSync((await download.path())!, 'utf8')
        .trim()
        .split('\n');
      expect(lines.map((l) => (JSON.parse(l) as { action: string }).action)).toEqual(['token.revoke']);
      expect((JSON.parse(lines[0]!) as { targets: string[] }).targets).toEqual([tokenId]);
    });

    it('works from the keyboard, with the focus visible', async () => {
      await page.goto(`${origin}/#tokens`);
      // A fresh load, so the focus starts at the top of the document.
      await page.reload();
      await page.locator('nav a').first().waitFor();
      let name = '';
      for (let i = 0; i < 10 && name !== 'Audit trail'; i++) {
        await page.keyboard.press('Tab');
        name = await page.evaluate<string>("document.activeElement?.textContent ?? ''");
      }
      expect(name).toBe('Audit trail');
      expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
      await page.keyboard.press('Enter');
      await eventually(() => page.evaluate('location.hash')).toBe('#audit');
    });

    it('reflows at 200 % zoom: nothing wider than the window', async () => {
      const zoomed = await browser.newContext({
        viewport: { width: 640, height: 900 },
        deviceScaleFactor: 2,
      });
      try {
        await zoomed.addCookies(await owner.cookies(origin));
        const p = await zoomed.newPage();
        for (const hash of ['#tokens', '#keys', '#audit']) {
          await p.goto(`${origin}/${hash}`);
          await p.locator('main h2').first().waitFor();
          const overflow = await p.evaluate<number>(
            'document.documentElement.scrollWidth - window.innerWidth',
          );
          expect(overflow, hash).toBeLessThanOrEqual(0);
        }
        await p.goto(`${origin}/#tokens`);
        await p.locator('main h2').first().waitFor();
        await p.screenshot({ path: shot('tokens-200-percent.png') });
      } finally {
        await zoomed.close();
      }
    });

    it('seals a provider key in the page: no request carries it, nor egg’s output, and the proxy injects exactly it', async () => {
      const sent: { what: string; text: string }[] = [];
      const record = (request: import('playwright-core').Request) =>
        void request.allHeaders().then((headers) =>
          sent.push({
            what: `${request.method()} ${request.url()}`,
            text: `${request.url()}\n${JSON.stringify(headers)}\n${request.postDataBuffer()?.toString('latin1') ?? ''}`,
          }),
        );
      page.on('request', record);
      try {
        await page.goto(`${origin}/#keys`);
        await page.getByLabel('Name').fill('SEALED_KEY');
        await page.getByLabel('Provider origin (pinned upstream)').fill(upstream.url);
        await page.getByLabel('Provider API key').fill(SEALED_CANARY);
        await page.getByRole('button', { name: 'Seal and store' }).click();
        await eventually(() => page.locator('.status').textContent()).toContain('Stored SEALED_KEY');
        expect(await page.getByLabel('Provider API key').inputValue()).toBe('');
        await eventually(() => page.locator('main table').textContent()).toContain('sealed, not used yet');
        await page.screenshot({ path: shot('keys.png'), fullPage: true });
      } finally {
        page.off('request', record);
      }
      const post = sent.find((r) => r.what === `POST ${origin}/api/provider-keys`);
      expect(post?.text).toContain('"alg":"RSA-OAEP-256+A256GCM"');
      expect(sent.length).toBeGreaterThan(2);
      for (const request of sent) expect(findLeaks(request.text, SEALED_CANARY), request.what).toEqual([]);

      const minted = egg(
        [
          'tokens',
          'mint',
          '--key',
          'SEALED_KEY',
          '--allow-no-origin',
          '--rps',
          '5',
          '--spend',
          '10',
          '--json',
        ],
        { env },
      );
      expect(minted.code, minted.stderr).toBe(0);
      const sealedToken = (JSON.parse(minted.stdout) as { token: string }).token;
      const before = upstream.requests.length;
      const res = await fetch(`${proxy.url}/v1/echo`, {
        headers: { authorization: `Bearer ${sealedToken}` },
      });
      expect(res.status).toBe(200);
      expect(upstream.requests.slice(before).map((r) => r.headers.authorization)).toEqual([
        `Bearer ${SEALED_CANARY}`,
      ]);
      for (const output of [consoleProcess.stdout(), consoleProcess.stderr(), proxy.stdout(), proxy.stderr()])
        expect(findLeaks(output, SEALED_CANARY)).toEqual([]);
    });

    it('pulls the kill switch only with the namespace typed back', async () => {
      await page.goto(`${origin}/#tokens`);
      const confirm = page.getByLabel(`Type the namespace’s name, ${NAMESPACE}, to confirm`);
      const button = page.getByRole('button', { name: 'Void every token' });
      await confirm.fill('acme/we');
      expect(await button.isDisabled()).toBe(true);
      await confirm.fill(NAMESPACE);
      await button.click();
      await eventually(() => page.locator('.status.ok').textContent()).toContain('Kill switch');
      expect(auditActions()).toContain('token.killswitch');
      // Nothing the console printed carries the provider key.
      expect(consoleProcess.stderr()).not.toContain(PROVIDER_KEY);
      expect(consoleProcess.stdout()).not.toContain(PROVIDER_KEY);
    });
  },
  180_000,
);
