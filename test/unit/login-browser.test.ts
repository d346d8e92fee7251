/**
 * The browser login's parts: PKCE (RFC 7636), choosing the grant from discovery, the
 * loopback listener (RFC 8252 §7.3), the authorization response's checks, the opener, and
 * `login` end to end in-process against the fake issuer and STS, where a "browser" is a
 * `fetch` that follows the issuer's redirect.
 */
import type { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { browserCommand, openBrowser } from '../../src/login/browser.js';
import {
  chooseFlow,
  type FlowMetadata,
  type LoginDeps,
  type LoginFlow,
  type LoginInteraction,
  login,
  whoami,
} from '../../src/login/login.js';
import { listenForCallback } from '../../src/login/loopback.js';
import { parseAuthorizationResponse } from '../../src/login/oauth.js';
import type { LoginSettings } from '../../src/login/settings.js';
import { findLeaks } from '../support/cli.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-people';

/** A GET with a chosen Host header (fetch does not let one set it). */
function get(port: number, path: string, host = `127.0.0.1:${port}`) {
  return new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

const refusal = async (promise: Promise<unknown>) => {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: string; message?: string } | undefined;
  return { code: error?.code, message: error?.message };
};

describe('choosing the grant', () => {
  const base: FlowMetadata = { issuer: 'https://id.example.com' };
  const device = { device_authorization_endpoint: 'https://id.example.com/device' };
  const browser = { authorization_endpoint: 'https://id.example.com/authorize' };

  it.each([
    ['auto', { ...device, ...browser }, 'device'],
    ['auto', browser, 'browser'],
    ['browser', { ...device, ...browser }, 'browser'],
    ['device', device, 'device'],
  ] as const)('%s with %o → %s', (flow, endpoints, expected) => {
    expect(chooseFlow({ ...base, ...endpoints }, flow)).toBe(expected);
  });

  it.each<[LoginFlow, Partial<FlowMetadata>, string, string]>([
    [
      'device',
      browser,
      'cannot log in with https://id.example.com: the issuer does not offer the device authorization grant (RFC 8628)',
      'use --flow browser',
    ],
    [
      'browser',
      device,
      'cannot log in with https://id.example.com: its discovery document has no authorization_endpoint',
      'use --flow device',
    ],
    [
      'auto',
      {},
      'cannot log in with https://id.example.com: its discovery document has neither a device_authorization_endpoint nor an authorization_endpoint',
      'check --issuer (EGG_OIDC_ISSUER)',
    ],
    [
      'browser',
      { ...browser, code_challenge_methods_supported: ['plain'] },
      'cannot log in with https://id.example.com: it does not support PKCE with S256 (code_challenge_methods_supported)',
      'use another issuer',
    ],
  ])('refuses %s with %o', (flow, endpoints, message, hint) => {
    expect(() => chooseFlow({ ...base, ...endpoints }, flow)).toThrow(
      expect.objectContaining({ code: 'ERR_OIDC', message, hint }),
    );
  });
});

describe('the authorization response', () => {
  const expected = { state: 'a'.repeat(43), server: { issuer: 'https://id.example.com' }, clientId: 'egg' };
  const parse = (query: string) => () => parseAuthorizationResponse(new URLSearchParams(query), expected);

  it('returns the checked response with its code when the state is ours', () => {
    expect(parse(`code=c1&state=${expected.state}`)().get('code')).toBe('c1');
    expect(parse(`code=c1&state=${expected.state}&iss=https%3A%2F%2Fid.example.com`)().get('code')).toBe(
      'c1',
    );
  });

  it.each([
    ['a missing state', 'code=c1', 'ERR_OIDC', /state does not match/],
    ['a shorter state', `code=c1&state=${'a'.repeat(42)}`, 'ERR_OIDC', /state does not match/],
    ['an error under a forged state', 'error=access_denied&state=x', 'ERR_OIDC', /state does not match/],
    ['a repeated state', `code=c1&state=${expected.state}&state=x`, 'ERR_OIDC', /"state" more than once/],
    ['a repeated code', `code=c1&code=c2&state=${expected.state}`, 'ERR_OIDC', /"code" more than once/],
    [
      'another issuer (RFC 9207)',
      `code=c1&state=${expected.state}&iss=https%3A%2F%2Fevil.example`,
      'ERR_OIDC',
      /comes from another issuer \(https:\/\/evil\.example/,
    ],
    [
      'access_denied',
      `error=access_denied&state=${expected.state}`,
      'ERR_ACCESS_DENIED',
      /^the login was denied/,
    ],
    [
      'another error, described',
      `error=invalid_scope&error_description=offline_access%1b[31m&state=${expected.state}`,
      'ERR_OIDC',
      /^the issuer refused the authorization request: invalid_scope: offline_access \[31m$/,
    ],
    ['no code', `state=${expected.state}`, 'ERR_OIDC', /has no authorization code/],
  ])('refuses %s', (_, query, code, message) => {
    expect(parse(query)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
  });
});

describe('the loopback listener', () => {
  it('listens on 127.0.0.1 only, ignores other paths and hosts, accepts one callback, then stops listening', async () => {
    const seen: string[] = [];
    const listener = await listenForCallback({
      port: 0,
      timeoutMs: 10_000,
      accept: (params) => {
        seen.push(params.get('code') ?? '');
        return 'ok';
      },
    });
    const port = Number(new URL(listener.redirectUri).port);
    expect(listener.redirectUri).toBe(`http://127.0.0.1:${port}/callback`);
    expect(await get(port, '/favicon.ico')).toBe(404);
    // DNS rebinding: a page on another name that resolves to 127.0.0.1.
    expect(await get(port, '/callback?code=evil', `attacker.example:${port}`)).toBe(421);
    expect(await get(port, '/callback?code=c1')).toBe(200);
    expect(await listener.result).toBe('ok');
    expect(seen).toEqual(['c1']);
    await expect(get(port, '/callback?code=c2')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    listener.close();
  });

  it('answers a refused callback with an error page, and rejects', async () => {
    const listener = await listenForCallback({
      port: 0,
      timeoutMs: 10_000,
      accept: () => {
        throw new Error('refused');
      },
    });
    const port = Number(new URL(listener.redirectUri).port);
    expect(await get(port, '/callback?state=x')).toBe(400);
    await expect(listener.result).rejects.toThrow('refused');
    await expect(get(port, '/callback')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('gives up after the timeout with an exact error, and closes', async () => {
    const listener = await listenForCallback({ port: 0, timeoutMs: 50, accept: () => 'ok' });
    expect(await refusal(listener.result)).toEqual({
      code: 'ERR_LOGIN_REQUIRED',
      message: 'the browser sign-in did not finish within 0 seconds',
    });
    const port = Number(new URL(listener.redirectUri).port);
    await expect(get(port, '/callback')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('says so when the registered port is taken', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as { port: number };
    try {
      expect(await refusal(listenForCallback({ port, timeoutMs: 1000, accept: () => 'ok' }))).toEqual({
        code: 'ERR_CONFLICT',
        message: `cannot listen on 127.0.0.1:${port} for the login’s redirect: it is in use`,
      });
    } finally {
      squatter.close();
    }
  });
});

describe('the opener', () => {
  const url = 'https://id.example.com/authorize?a=1&b=2';

  it.each([
    ['darwin', ['open', url]],
    ['linux', ['xdg-open', url]],
    ['win32', ['rundll32', 'url.dll,FileProtocolHandler', url]],
  ] as const)('on %s runs %o, no shell', (platform, argv) => {
    expect(browserCommand(url, { platform, env: {} })).toEqual(argv);
  });

  it('runs EGG_BROWSER split on spaces, the URL last, without the client secret or AWS keys', async () => {
    expect(browserCommand(url, { env: { EGG_BROWSER: ' node  /t/fake.ts ' } })).toEqual([
      'node',
      '/t/fake.ts',
      url,
    ]);
    const calls: { command: string; args: readonly string[]; env: NodeJS.ProcessEnv | undefined }[] = [];
    const fakeSpawn = ((command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv }) => {
      calls.push({ command, args, env: options.env });
      const child = new EventEmitter() as EventEmitter & { unref(): void };
      child.unref = () => {};
      setImmediate(() => child.emit('spawn'));
      return child;
    }) as unknown as typeof spawn;
    const env = {
      EGG_BROWSER: 'firefox',
      EGG_OIDC_CLIENT_SECRET: 's',
      AWS_SECRET_ACCESS_KEY: 'k',
      LANG: 'C',
    };
    expect(await openBrowser(url, { env, spawn: fakeSpawn })).toBe(true);
    expect(calls).toEqual([{ command: 'firefox', args: [url], env: { EGG_BROWSER: 'firefox', LANG: 'C' } }]);
  });

  it('reports false when the opener cannot start, and refuses a URL that is not http(s)', async () => {
    expect(await openBrowser(url, { env: { EGG_BROWSER: '/nonexistent/browser' } })).toBe(false);
    await expect(openBrowser('--help', {})).rejects.toThrow(TypeError);
  });
});

describe('egg login in a browser (in-process)', () => {
  let issuer: FakeIssuer;
  let sts: FakeSts;
  let base: string;
  let home: string;
  const outputs: string[] = [];
  const settings = (): LoginSettings => ({
    issuer: issuer.issuer,
    clientId: issuer.clientId,
    scopes: 'openid email offline_access',
    roleArn: ROLE,
    region: 'us-east-1',
    durationSeconds: 3600,
    redirectPort: 0,
  });
  /** The "browser": follow the issuer's redirect to the loopback callback. */
  const deps = (): LoginDeps & LoginInteraction => ({
    env: { AWS_ENDPOINT_URL_STS: sts.endpoint, EGG_TOKEN_STORE: 'file', PATH: process.env.PATH },
    flow: 'browser',
    onPrompt: () => {
      throw new Error('the device flow was not asked for');
    },
    onBrowserPrompt: async ({ authorizationUrl }) => {
      outputs.push(authorizationUrl);
      // Not awaited: the login awaits the callback itself.
      void fetch(authorizationUrl).then((res) => res.text().then((page) => outputs.push(page)));
    },
  });

  beforeAll(async () => {
    issuer = await startFakeIssuer();
    sts = await startFakeSts({
      providers: [{ issuer: issuer.issuer, jwksUrl: issuer.jwksUri, audiences: [issuer.clientId] }],
      roles: [{ arn: ROLE, sub: ['user-*'], aud: issuer.clientId }],
    });
    base = mkdtempSync(join(tmpdir(), 'egg-login-browser-'));
  });
  beforeEach(() => {
    home = mkdtempSync(join(base, 'home-'));
    issuer.setIdTokenClaims({});
    sts.calls.length = 0;
  });
  afterAll(async () => {
    const everything = outputs.join('\n');
    for (const secret of issuer.issuedSecrets) expect(findLeaks(everything, secret)).toEqual([]);
    await Promise.all([issuer.close(), sts.close()]);
    rmSync(base, { recursive: true, force: true });
  });

  it('logs in with --flow browser even where the device grant exists, with the nonce checked', async () => {
    const me = await login(home, settings(), deps());
    outputs.push(JSON.stringify(me));
    expect(me).toMatchObject({ loggedIn: true, subject: 'user-8a1f', refreshable: true });
    expect(issuer.requests).toContain('/token:authorization_code');
    expect(issuer.requests).not.toContain('/device');
    expect(whoami(home)?.subject).toBe('user-8a1f');
  });

  it.each([
    ['another nonce', { nonce: 'n-from-another-sign-in' }],
    ['no nonce', { nonce: undefined }],
  ])('refuses an ID token with %s before it reaches STS', async (_, claims) => {
    issuer.setIdTokenClaims(claims);
    expect(await refusal(login(home, settings(), deps()))).toEqual({
      code: 'ERR_OIDC',
      message: 'the issuer’s ID token was refused: its nonce does not match this login’s request',
    });
    expect(sts.calls).toEqual([]);
    expect(whoami(home)).toBeUndefined();
  });
});
