/**
 * The proxy's request checks, each a small function of src/proxy/ that server.ts calls in
 * DESIGN's order: the request target, the token's header, the preflight, the CORS answer,
 * the caps, the refusals, the upstream target and the log line. No server, no services.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { EggError } from '../../src/errors.js';
import { declaredBodyAllowed, rateRefusal, spendRefusal, throttleRefusal } from '../../src/proxy/caps.js';
import { isPathTarget } from '../../src/proxy/framing.js';
import {
  connectionTokens,
  corsHeaders,
  hasContentLength,
  NO_CORS,
  requestHeaders,
  responseHeaders,
} from '../../src/proxy/headers.js';
import { headerHash, hundredths, isoClock, logLine } from '../../src/proxy/log-line.js';
import { MAX_REQUESTED_HEADERS, preflightHeaders } from '../../src/proxy/preflight.js';
import { leaseRefusal, REFUSALS, refusalCode, refuse } from '../../src/proxy/refusals.js';
import { tokenFromHeaders } from '../../src/proxy/token-header.js';
import { parseUpstreamTarget, upstreamTargets } from '../../src/proxy/upstream-target.js';

const CORS = Object.freeze({ 'access-control-allow-origin': 'https://app.example.com', vary: 'Origin' });

describe('request target', () => {
  const cases: [string | undefined, boolean][] = [
    ['/v1/chat/completions', true],
    ['/', true],
    // A path, sent verbatim to the pinned host: never a host of its own.
    ['//evil.com/x', true],
    ['http://evil.com/v1', false],
    ['*', false],
    ['', false],
    [undefined, false],
    ['/\\evil.com/x', false],
  ];
  for (const [url, allowed] of cases) {
    it(`${JSON.stringify(url)} → ${allowed ? 'forwarded' : 'refused'}`, () => {
      expect(isPathTarget(url)).toBe(allowed);
    });
  }
});

describe('the egg token of a request', () => {
  const cases: [string, string | undefined, string | string[] | undefined, string | undefined][] = [
    ['Bearer', 'Bearer egg_abc', undefined, 'egg_abc'],
    ['bearer in any case', 'bEaReR egg_abc', undefined, 'egg_abc'],
    ['spaces around the token', 'Bearer    egg_abc   ', undefined, 'egg_abc'],
    ['a one-character token', 'Bearer x', undefined, 'x'],
    ['Bearer and spaces only', 'Bearer      ', undefined, undefined],
    ['too short to hold a token', 'Bearer ', undefined, undefined],
    ['another scheme', 'Basic egg_abc', undefined, undefined],
    ['another six-letter scheme', 'Digest egg_abc', undefined, undefined],
    ['a scheme that starts like Bearer', 'Bearerx egg_abc', undefined, undefined],
    ['a tab after Bearer', 'Bearer\tegg_abc', undefined, undefined],
    ['x-api-key', undefined, 'egg_abc', 'egg_abc'],
    ['x-api-key, trimmed', undefined, ' egg_abc\t', 'egg_abc'],
    ['Authorization wins over x-api-key', 'Bearer egg_a', 'egg_b', 'egg_a'],
    ['a refused Authorization is not rescued by x-api-key', 'Basic egg_a', 'egg_b', undefined],
    ['repeated x-api-key headers', undefined, ['egg_a', 'egg_b'], undefined],
    ['neither header', undefined, undefined, undefined],
  ];
  for (const [name, authorization, apiKey, token] of cases) {
    it(name, () => {
      expect(tokenFromHeaders(authorization, apiKey)).toBe(token);
    });
  }
});

describe('CORS preflight', () => {
  const VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

  it('answers a well-formed preflight with exactly what it asked for, for 10 minutes', () => {
    expect(preflightHeaders('https://app.example.com', 'POST', 'content-type, x-stainless-os')).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type, x-stainless-os',
      'access-control-max-age': '600',
      vary: VARY,
    });
  });

  it('allows no headers when none are asked for', () => {
    for (const list of ['a,b', 'a , b', 'a\t,\tb', 'x-a,x-b, x-c'])
      expect(
        preflightHeaders('https://a.example', 'POST', list)?.['access-control-allow-headers'],
        list,
      ).toBe(list);
    expect(preflightHeaders('http://localhost:5173', 'GET', '')).toEqual({
      'access-control-allow-origin': 'http://localhost:5173',
      'access-control-allow-methods': 'GET',
      'access-control-max-age': '600',
      vary: VARY,
    });
  });

  it('answers for an IPv6 origin', () => {
    expect(preflightHeaders('http://[::1]:8080', 'PUT', '')?.['access-control-allow-origin']).toBe(
      'http://[::1]:8080',
    );
  });

  it('accepts a header list as long as the bound, and no longer', () => {
    const list = (length: number) => `x-${'a'.repeat(length - 2)}`;
    expect(preflightHeaders('https://a.example', 'POST', list(MAX_REQUESTED_HEADERS))).toBeDefined();
    expect(preflightHeaders('https://a.example', 'POST', list(MAX_REQUESTED_HEADERS + 1))).toBeUndefined();
    expect(MAX_REQUESTED_HEADERS).toBe(2048);
  });

  const refused: [string, string | undefined, string, string][] = [
    ['no Origin', undefined, 'POST', ''],
    ['an opaque origin (null)', 'null', 'POST', ''],
    ['an origin with a path', 'https://app.example.com/x', 'POST', ''],
    ['an origin with a header break', 'https://a.example\r\nx-evil: 1', 'POST', ''],
    ['an origin with a trailing newline', 'https://a.example\n', 'POST', ''],
    ['a scheme other than http(s)', 'ftp://a.example', 'POST', ''],
    ['text before the scheme', 'xhttps://a.example', 'POST', ''],
    ['an empty host', 'https://', 'POST', ''],
    ['a host longer than the bound', `https://${'a'.repeat(261)}`, 'POST', ''],
    ['a method not forwarded', 'https://a.example', 'TRACE', ''],
    ['no method', 'https://a.example', '', ''],
    ['a header list with a space inside a name', 'https://a.example', 'POST', 'x y'],
    ['a header list with a header break', 'https://a.example', 'POST', 'x\r\nset-cookie: a'],
    ['a header list ending in a comma', 'https://a.example', 'POST', 'x,'],
    ['a header list that starts with a comma', 'https://a.example', 'POST', ',x'],
  ];
  for (const [name, origin, method, requested] of refused) {
    it(`refuses ${name}`, () => {
      expect(preflightHeaders(origin, method, requested)).toBeUndefined();
    });
  }

  it('takes a host as long as the bound', () => {
    expect(preflightHeaders(`https://${'a'.repeat(260)}`, 'POST', '')).toBeDefined();
  });
});

describe('CORS headers of an answer', () => {
  it('are none without Origin (the one shared empty object)', () => {
    expect(corsHeaders(undefined)).toBe(NO_CORS);
    expect(NO_CORS).toEqual({});
    expect(Object.isFrozen(NO_CORS)).toBe(true);
  });

  it('name the request origin and vary on it', () => {
    expect(corsHeaders('https://app.example.com')).toEqual(CORS);
  });
});

describe('caps', () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, true],
    ['0', true],
    ['100', true],
    ['101', false],
    ['1e9', false],
    ['abc', false],
  ];
  for (const [length, allowed] of cases) {
    it(`a declared body of ${JSON.stringify(length)} under a 100-byte cap is ${allowed ? 'allowed' : 'refused'}`, () => {
      expect(declaredBodyAllowed(length, 100)).toBe(allowed);
    });
  }

  it('answers a rate refusal 429 with Retry-After and the CORS headers', () => {
    expect(rateRefusal(3, CORS)).toEqual({
      status: 429,
      code: 'rate_limited',
      message: "the token's rate cap is reached",
      headers: { ...CORS, 'retry-after': '3' },
    });
  });

  it('answers a throttled token 429 with its own code, Retry-After and the CORS headers', () => {
    expect(throttleRefusal(60, CORS)).toEqual({
      status: 429,
      code: 'token_throttled',
      message: 'the token is throttled after unusual use; its owner was alerted',
      headers: { ...CORS, 'retry-after': '60' },
    });
  });

  it('answers a spend cap 402, with the CORS headers', () => {
    expect(spendRefusal({ ok: false, reason: 'spend-cap', spent: 10 }, CORS)).toEqual({
      ...REFUSALS.spend,
      status: 402,
      headers: CORS,
    });
  });

  it('answers 401 when no live record took the spend: never minted here, or revoked', () => {
    expect(spendRefusal({ ok: false, reason: 'unknown-token' }, CORS)).toBe(REFUSALS.token);
    expect(spendRefusal({ ok: false, reason: 'revoked' }, CORS)).toBe(REFUSALS.token);
  });
});

describe('refusals', () => {
  it('have the statuses and codes of the contract, and messages that echo nothing', () => {
    const table = Object.fromEntries(Object.entries(REFUSALS).map(([k, r]) => [k, [r.status, r.code]]));
    expect(table).toEqual({
      badRequest: [400, 'bad_request'],
      badFraming: [400, 'bad_framing'],
      method: [405, 'method_not_allowed'],
      token: [401, 'token_invalid'],
      origin: [403, 'origin_not_allowed'],
      spend: [402, 'spend_cap_reached'],
      tooLarge: [413, 'body_too_large'],
      unavailable: [503, 'state_unavailable'],
      keyUnavailable: [502, 'key_unavailable'],
      keyInvalid: [502, 'key_invalid'],
      upstream: [502, 'upstream_error'],
      timeout: [504, 'upstream_timeout'],
    });
    for (const refusal of Object.values(REFUSALS)) expect(refusal.message).toMatch(/^[a-z][^\n]{15,}$/);
    expect(REFUSALS.method.headers).toEqual({ allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' });
    expect(REFUSALS.unavailable.headers).toEqual({ 'retry-after': '1' });
  });

  it('answer 503 (try again) when the key store is unreachable, 502 for any other lease failure', () => {
    expect(leaseRefusal(new EggError('ERR_STORE_UNAVAILABLE', 'down'), CORS)).toEqual({
      ...REFUSALS.unavailable,
      headers: { ...CORS, 'retry-after': '1' },
    });
    expect(leaseRefusal(new EggError('ERR_SECRET_NOT_FOUND', 'gone'), CORS)).toEqual({
      ...REFUSALS.keyUnavailable,
      headers: CORS,
    });
    expect(leaseRefusal(new Error('boom'), NO_CORS)).toEqual({ ...REFUSALS.keyUnavailable, headers: {} });
  });

  /** Just enough of a ServerResponse to watch what `refuse` does with it. */
  function fakeResponse(headersSent = false) {
    const calls: unknown[][] = [];
    const res = {
      headersSent,
      writeHead: (...args: unknown[]) => calls.push(['writeHead', ...args]),
      end: (...args: unknown[]) => calls.push(['end', ...args]),
      destroy: () => calls.push(['destroy']),
    };
    return { res: res as unknown as ServerResponse, calls };
  }

  it('write a fixed JSON body, never cached, with the refusal headers, and remember the code', () => {
    const { res, calls } = fakeResponse();
    expect(refusalCode(res)).toBeUndefined();
    refuse(res, REFUSALS.unavailable);
    const body =
      '{"error":{"type":"egg_proxy","code":"state_unavailable","message":"the proxy cannot confirm revocation or spend state right now; try again"}}';
    expect(calls).toEqual([
      [
        'writeHead',
        503,
        {
          'content-type': 'application/json',
          'content-length': body.length,
          'cache-control': 'no-store',
          'retry-after': '1',
        },
      ],
      ['end', body],
    ]);
    expect(refusalCode(res)).toBe('state_unavailable');
  });

  it('count the body in bytes, not characters', () => {
    const { res, calls } = fakeResponse();
    refuse(res, { status: 400, code: 'x', message: 'é' });
    expect((calls[0]?.[2] as Record<string, number>)['content-length']).toBe(
      Buffer.byteLength(calls[1]?.[1] as string),
    );
    expect(calls[1]?.[1]).toBe('{"error":{"type":"egg_proxy","code":"x","message":"é"}}');
  });

  it('cut a response whose headers are already sent, rather than write into its body', () => {
    const { res, calls } = fakeResponse(true);
    refuse(res, REFUSALS.upstream);
    expect(calls).toEqual([['destroy']]);
    expect(refusalCode(res)).toBeUndefined();
  });
});

describe('upstream target', () => {
  it('takes host, port and scheme from the pinned origin only', () => {
    expect(parseUpstreamTarget('https://api.example.com')).toEqual({
      secure: true,
      protocol: 'https:',
      hostname: 'api.example.com',
      port: 443,
      host: 'api.example.com',
      servername: 'api.example.com',
    });
    expect(parseUpstreamTarget('http://127.0.0.1:8080')).toEqual({
      secure: false,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8080,
      host: '127.0.0.1:8080',
      servername: '127.0.0.1',
    });
    expect(parseUpstreamTarget('http://upstream.test')).toMatchObject({ port: 80, host: 'upstream.test' });
    expect(parseUpstreamTarget('https://api.example.com:8443')).toMatchObject({
      port: 8443,
      host: 'api.example.com:8443',
    });
  });

  it('connects to an IPv6 literal without its brackets, and sends Host with them', () => {
    expect(parseUpstreamTarget('http://[::1]:9000')).toMatchObject({
      hostname: '::1',
      host: '[::1]:9000',
      port: 9000,
    });
  });

  it('parses each origin once, and starts again past 256 origins', () => {
    const target = upstreamTargets();
    const first = target('https://a.example');
    expect(target('https://a.example')).toBe(first);
    for (let i = 0; i < 255; i++) target(`https://h${i}.example`);
    expect(target('https://a.example')).toBe(first);
    target('https://one-more.example');
    const again = target('https://a.example');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  it('throws for a string that is not a URL', () => {
    expect(() => parseUpstreamTarget('not a url')).toThrow(TypeError);
  });
});

describe('log line', () => {
  const RAW = [
    'Host',
    'proxy.test',
    'Authorization',
    'Bearer egg_secret',
    'X-Api-Key',
    'egg_other',
    'Cookie',
    'c=1',
  ];
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  it('is one JSON line of time, token id, status, bytes, latency and header hash', () => {
    const line = logLine(
      '2026-01-01T00:00:00.007Z',
      'AAAAAAAAAAAAAAAAAAAAAA',
      200,
      undefined,
      12,
      34,
      1.5,
      RAW,
    );
    expect(line.endsWith('}\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({
      time: '2026-01-01T00:00:00.007Z',
      token: 'AAAAAAAAAAAAAAAAAAAAAA',
      status: 200,
      bytesIn: 12,
      bytesOut: 34,
      ms: 1.5,
      headers: headerHash(RAW),
    });
  });

  it('names the refusal of a 5xx, or says the upstream answered it', () => {
    expect(JSON.parse(logLine('t', null, 503, 'state_unavailable', 0, 0, 0, [])).code).toBe(
      'state_unavailable',
    );
    expect(JSON.parse(logLine('t', null, 504, 'upstream_timeout', 0, 0, 0, [])).code).toBe(
      'upstream_timeout',
    );
    expect(JSON.parse(logLine('t', 'x', 500, undefined, 0, 0, 0, [])).code).toBe('upstream_status');
    expect(JSON.parse(logLine('t', null, 499, 'token_invalid', 0, 0, 0, []))).not.toHaveProperty('code');
    expect(JSON.parse(logLine('t', null, 401, 'token_invalid', 0, 0, 0, [])).token).toBeNull();
  });

  it('hashes header names in lowercase and values, but not the token, the API key or cookies', () => {
    expect(headerHash(RAW)).toBe(sha('host:proxy.test\nauthorization:-\nx-api-key:-\ncookie:-\n'));
    const other = ['host', 'proxy.test', 'authorization', 'Bearer egg_else', 'x-api-key', 'k', 'cookie', 'd'];
    expect(headerHash(other)).toBe(headerHash(RAW));
    expect(headerHash(['Host', 'proxy.test', 'X-Trace', '1'])).toBe(sha('host:proxy.test\nx-trace:1\n'));
    expect(headerHash([])).toBe(sha(''));
  });

  it('writes latency as String(Math.round(ms * 100) / 100) does', () => {
    for (const ms of [
      0,
      0.004,
      0.005,
      0.01,
      0.1,
      0.25,
      1,
      1.05,
      1.1,
      1.234,
      12.3,
      99.999,
      1234.5678,
      1e12 + 0.07,
    ])
      expect(hundredths(ms), String(ms)).toBe(String(Math.round(ms * 100) / 100));
    for (const ms of [-0.5, -3, 1e13, Number.NaN, Number.POSITIVE_INFINITY])
      expect(hundredths(ms), String(ms)).toBe(String(Math.round(ms * 100) / 100));
  });

  it('writes times as Date#toISOString does, across seconds and in any order', () => {
    const iso = isoClock();
    const base = Date.UTC(2026, 0, 1, 23, 59, 58);
    for (const ms of [0, 5, 9, 10, 99, 100, 999, 1000, 1001, 1999.7, 2000, 2050, 1500, 123_456])
      expect(iso(base + ms), String(ms)).toBe(new Date(Math.floor(base + ms)).toISOString());
    expect(iso(0)).toBe('1970-01-01T00:00:00.000Z');
  });
});

describe('headers of the exchange', () => {
  const inject = { name: 'x-api-key', prefix: '', suffix: '' };

  it('sends upstream none of the hop-by-hop headers, nor tokens, cookies or Forwarded', () => {
    const dropped = [
      'Connection',
      'Keep-Alive',
      'Proxy-Connection',
      'Proxy-Authenticate',
      'Proxy-Authorization',
      'TE',
      'Trailer',
      'Transfer-Encoding',
      'Upgrade',
      'Host',
      'Authorization',
      'X-Api-Key',
      'Cookie',
      'Forwarded',
      'Content-Length',
      'X-Forwarded-For',
      'x-forwarded-anything',
    ];
    const raw = dropped.flatMap((name) => [name, 'v']).concat(['Accept', 'text/event-stream']);
    expect(requestHeaders(raw, null, inject, 'api.example.com', 'sk-1')).toEqual([
      'Accept',
      'text/event-stream',
      'host',
      'api.example.com',
      'x-api-key',
      'sk-1',
    ]);
  });

  it('keeps Connection: keep-alive from naming anything, in any case', () => {
    expect(connectionTokens(['Connection', 'Keep-Alive'])).toBeUndefined();
    expect(connectionTokens(['connection', 'keep-alive', 'Keep-Alive', 'x'])).toBeUndefined();
    expect(connectionTokens(['Connection', 'close'])).toEqual(new Set(['close']));
    expect(connectionTokens(['Connection', 'X-A, x-b', 'Connection', 'keep-alive, X-C'])).toEqual(
      new Set(['x-a', 'x-b', 'keep-alive', 'x-c']),
    );
    // Only a header named Connection names anything (a name of the same length does not).
    expect(connectionTokens(['Connexion', 'x-a', 'Upgrade', 'x-b'])).toBeUndefined();
    expect(connectionTokens([])).toBeUndefined();
    // Only Connection names headers; a ten-character token in it is named like any other.
    expect(connectionTokens(['X-Names', 'x-keep'])).toBeUndefined();
    expect(connectionTokens(['Connection', 'x-hop-abcd'])).toEqual(new Set(['x-hop-abcd']));
  });

  it('drops what the client’s Connection names, and the header the key is injected in', () => {
    const raw = ['Connection', 'X-Hop', 'X-Hop', '1', 'x-api-key', 'client', 'X-Keep', '2'];
    expect(requestHeaders(raw, ['content-length', '3'], inject, 'h', 'k')).toEqual([
      'X-Keep',
      '2',
      'host',
      'h',
      'content-length',
      '3',
      'x-api-key',
      'k',
    ]);
  });

  it('drops a client header of the name the key is injected in, whatever that name is', () => {
    const custom = { name: 'x-goog-api-key', prefix: '', suffix: '' };
    expect(requestHeaders(['X-Goog-Api-Key', 'client', 'A', '1'], null, custom, 'h', 'k')).toEqual([
      'A',
      '1',
      'host',
      'h',
      'x-goog-api-key',
      'k',
    ]);
  });

  it('passes the upstream’s answer on, less hop-by-hop headers, cookies and its own CORS', () => {
    const raw = [
      'Content-Type',
      'application/json',
      'Connection',
      'X-Hop',
      'X-Hop',
      '1',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'Set-Cookie',
      'session=1',
      'Access-Control-Allow-Origin',
      '*',
      'Access-Control-Allow-Credentials',
      'true',
      'Proxy-Authenticate',
      'Basic',
      'Trailer',
      'x',
      'Vary',
      'Accept-Encoding',
    ];
    expect(responseHeaders(raw, NO_CORS)).toEqual([
      'Content-Type',
      'application/json',
      'Vary',
      'Accept-Encoding',
    ]);
  });

  it('answers with the request origin, merging the upstream’s Vary with Origin', () => {
    const raw = ['Vary', 'Accept-Encoding', 'Content-Type', 'text/plain', 'vary', 'Accept'];
    expect(responseHeaders(raw, CORS)).toEqual([
      'Content-Type',
      'text/plain',
      'access-control-allow-origin',
      'https://app.example.com',
      'vary',
      'Accept-Encoding, Accept, Origin',
    ]);
    expect(responseHeaders(['X', '1'], CORS)).toEqual([
      'X',
      '1',
      'access-control-allow-origin',
      'https://app.example.com',
      'vary',
      'Origin',
    ]);
  });

  it('keeps the upstream’s Vary when the CORS headers have none', () => {
    const cors = { 'access-control-allow-origin': 'https://a.example' };
    expect(responseHeaders(['Vary', 'Accept'], cors)).toEqual([
      'Vary',
      'Accept',
      'access-control-allow-origin',
      'https://a.example',
    ]);
  });

  it('tells a sized answer from a streamed one by Content-Length in any case', () => {
    expect(hasContentLength(['Content-Type', 'text/plain', 'Content-Length', '5'])).toBe(true);
    expect(hasContentLength(['content-length', '0'])).toBe(true);
    expect(hasContentLength(['Content-Type', 'text/event-stream', 'Transfer-Encoding', 'chunked'])).toBe(
      false,
    );
    expect(hasContentLength(['X-Content-Length', '5', 'Content-Lengthx', '5'])).toBe(false);
    expect(hasContentLength(['x', 'Content-Length'])).toBe(false);
    expect(hasContentLength([])).toBe(false);
    // The same length as Content-Length, another name.
    expect(hasContentLength(['Accept-Charset', 'utf-8'])).toBe(false);
  });
});
