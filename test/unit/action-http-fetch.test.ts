/**
 * `httpFetch`, the node:http(s) stand-in for `fetch` in the OIDC exchange: the answers and
 * the failures callers (and their retry rules) rely on look as `fetch`'s do.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFetch } from '../../src/auth/http-fetch.js';

describe('httpFetch', () => {
  let server: Server;
  let base: string;
  const seen: {
    method: string | undefined;
    url: string | undefined;
    headers: IncomingMessage['headers'];
    body: string;
  }[] = [];

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      seen.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      if (req.url === '/slow') return; // never answers
      if (req.url === '/huge') return void res.end(Buffer.alloc(2 << 20, 'x'));
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ value: 'é-token' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  it('GETs with the headers given and reads a JSON answer', async () => {
    const answer = await httpFetch(`${base}/token?a=1&audience=x`, {
      headers: { authorization: 'Bearer b' },
    });
    expect({ ok: answer.ok, status: answer.status, json: await answer.json() }).toEqual({
      ok: true,
      status: 200,
      json: { value: 'é-token' },
    });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/token?a=1&audience=x', body: '' });
    expect(seen.at(-1)?.headers.authorization).toBe('Bearer b');
  });

  it('POSTs a form body with its byte length', async () => {
    const answer = await httpFetch(`${base}/`, { method: 'POST', body: 'A=é' });
    expect(answer.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', body: 'A=é' });
    expect(seen.at(-1)?.headers['content-length']).toBe('4');
  });

  it('answers an HTTP error as a status, not a rejection', async () => {
    const answer = await httpFetch(`${base}/missing`, {});
    expect({ ok: answer.ok, status: answer.status }).toEqual({ ok: false, status: 404 });
    await answer.body?.cancel();
  });

  it('rejects with the TimeoutError of AbortSignal.timeout', async () => {
    await expect(httpFetch(`${base}/slow`, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
  });

  it.each([
    ['a refused connection', 'http://127.0.0.1:9/', 'ECONNREFUSED'],
    ['an answer larger than 1 MiB', '/huge', undefined],
    ['a scheme other than http(s)', 'file:///etc/passwd', undefined],
  ])('rejects %s as fetch does: TypeError("fetch failed")', async (_, url, code) => {
    const failed = httpFetch(url.startsWith('/') ? `${base}${url}` : url, {});
    await expect(failed).rejects.toThrow(new TypeError('fetch failed'));
    if (code !== undefined) await expect(failed).rejects.toMatchObject({ cause: { code } });
  });
});
