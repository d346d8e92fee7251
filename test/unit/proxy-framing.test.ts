import { afterEach, describe, expect, it, vi } from 'vitest';
import { ALLOWED_METHODS, FORWARDED_METHODS, requestFraming } from '../../src/proxy/framing.js';
import { NO_CORS, requestHeaders, responseHeaders } from '../../src/proxy/headers.js';
import { UpstreamPools } from '../../src/proxy/upstream-pools.js';

describe('request framing', () => {
  const cases: [string, string | undefined, string | undefined, ReturnType<typeof requestFraming>][] = [
    ['no body', undefined, undefined, null],
    ['the client length', '12', undefined, ['content-length', '12']],
    ['a zero length', '0', undefined, ['content-length', '0']],
    ['leading zeros, restated', '007', undefined, ['content-length', '7']],
    ['chunked', undefined, 'chunked', ['transfer-encoding', 'chunked']],
    ['Chunked, any case', undefined, ' Chunked ', ['transfer-encoding', 'chunked']],
    ['both headers (smuggling)', '3', 'chunked', 'refused'],
    ['gzip, chunked', undefined, 'gzip, chunked', 'refused'],
    ['two Transfer-Encoding headers joined', undefined, 'chunked, chunked', 'refused'],
    ['identity', undefined, 'identity', 'refused'],
    ['a signed length', '+3', undefined, 'refused'],
    ['a length list', '3, 3', undefined, 'refused'],
    ['a 16-digit length', '1234567890123456', undefined, 'refused'],
  ];
  for (const [name, length, coding, framing] of cases) {
    it(`${name} → ${JSON.stringify(framing)}`, () => {
      expect(requestFraming(length, coding)).toEqual(framing);
    });
  }

  it('forwards exactly the seven methods of the contract', () => {
    expect([...FORWARDED_METHODS]).toEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
    expect(ALLOWED_METHODS).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    for (const method of ['TRACE', 'CONNECT', 'PROPFIND', 'get'])
      expect(FORWARDED_METHODS.has(method)).toBe(false);
  });
});

describe('headers sent upstream', () => {
  const inject = { name: 'authorization', prefix: 'Bearer ', suffix: '' };

  it('states the framing itself: Connection cannot remove it, the client cannot add its own', () => {
    const raw = [
      'Host',
      'proxy.example',
      'Connection',
      'Content-Length, Transfer-Encoding, X-Hop',
      'Content-Length',
      '5',
      'Transfer-Encoding',
      'chunked',
      'X-Hop',
      'dropped',
      'Content-Type',
      'application/json',
    ];
    expect(requestHeaders(raw, ['content-length', '5'], inject, 'api.example.com', 'sk-1')).toEqual([
      'Content-Type',
      'application/json',
      'host',
      'api.example.com',
      'content-length',
      '5',
      'authorization',
      'Bearer sk-1',
    ]);
    expect(
      requestHeaders(raw, ['transfer-encoding', 'chunked'], inject, 'api.example.com', 'sk-1'),
    ).toContain('transfer-encoding');
    expect(requestHeaders(['Content-Length', '0'], null, inject, 'h', 'k')).toEqual([
      'host',
      'h',
      'authorization',
      'Bearer k',
    ]);
  });

  it('drops Forwarded, X-Forwarded-*, tokens, cookies and hop-by-hop headers', () => {
    const raw = [
      'Forwarded',
      'for=1.2.3.4',
      'X-Forwarded-For',
      '1.2.3.4',
      'x-forwarded-host',
      'evil.example',
      'X-Forwarded-Proto',
      'http',
      'Authorization',
      'Bearer egg_token',
      'x-api-key',
      'egg_token',
      'Cookie',
      'a=b',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Upgrade',
      'websocket',
      'Proxy-Authorization',
      'Basic x',
      'X-Forwardedness',
      'kept',
      'Accept',
      '*/*',
    ];
    expect(requestHeaders(raw, null, inject, 'h', 'k')).toEqual([
      'X-Forwardedness',
      'kept',
      'Accept',
      '*/*',
      'host',
      'h',
      'authorization',
      'Bearer k',
    ]);
  });

  it("keeps the upstream's Content-Length though its Connection names it", () => {
    const raw = ['Content-Length', '5', 'Connection', 'content-length, x-a', 'X-A', '1', 'Set-Cookie', 's=1'];
    expect(responseHeaders(raw, NO_CORS)).toEqual(['Content-Length', '5']);
  });
});

describe('upstream pools', () => {
  afterEach(() => vi.useRealTimers());

  it('gives each provider key its own agents, and the same agents each time', () => {
    const pools = new UpstreamPools();
    try {
      const a = pools.agent('acme/web\nOPENAI_KEY', false);
      expect(pools.agent('acme/web\nOPENAI_KEY', false)).toBe(a);
      expect(pools.agent('acme/other\nOPENAI_KEY', false)).not.toBe(a);
      expect(pools.agent('acme/web\nOTHER_KEY', false)).not.toBe(a);
      expect(pools.agent('acme/web\nOPENAI_KEY', true)).not.toBe(a);
      expect(pools.size).toBe(3);
    } finally {
      pools.close();
    }
  });

  it('destroys an idle pool after idleMs, and keeps one in use', () => {
    vi.useFakeTimers();
    const pools = new UpstreamPools({ idleMs: 1000 });
    try {
      const idle = pools.agent('a\nK', false);
      const used = pools.agent('b\nK', false);
      const destroyed = vi.spyOn(idle, 'destroy');
      for (let t = 0; t < 2000; t += 250) {
        vi.advanceTimersByTime(250);
        pools.agent('b\nK', false);
      }
      expect(destroyed).toHaveBeenCalled();
      expect(pools.size).toBe(1);
      expect(pools.agent('b\nK', false)).toBe(used);
      expect(pools.agent('a\nK', false)).not.toBe(idle);
    } finally {
      pools.close();
    }
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retires the pool used longest ago beyond maxPools', () => {
    vi.useFakeTimers();
    const pools = new UpstreamPools({ maxPools: 2, idleMs: 1000 });
    try {
      const first = pools.agent('a\nK', false);
      const destroyed = vi.spyOn(first, 'destroy');
      vi.advanceTimersByTime(500);
      pools.agent('b\nK', false);
      pools.agent('c\nK', false);
      expect(destroyed).toHaveBeenCalled();
      expect(pools.size).toBe(2);
    } finally {
      pools.close();
    }
  });

  it('destroys every agent on close, and hands out none after', () => {
    const pools = new UpstreamPools();
    const agent = pools.agent('a\nK', true);
    const destroyed = vi.spyOn(agent, 'destroy');
    pools.close();
    expect(destroyed).toHaveBeenCalled();
    expect(() => pools.agent('a\nK', true)).toThrow('the upstream pools are closed');
  });
});
