/**
 * The CLI's API client on 429 (src/api/client.ts): the API refuses a caller over its limit
 * before any handler runs, so the client makes the call again after the `Retry-After` it
 * names, a bounded number of times, and never waits longer than it allows. A loopback server
 * answers as the API and the gateway do.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, RATE_LIMIT_RETRIES } from '../../src/api/client.js';

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A server answering each request with the next of `answers` (the last one again once they run out). */
async function serve(answers: Answer[]): Promise<{ url: string; seen: { method: string; body: string }[] }> {
  const seen: { method: string; body: string }[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', body });
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)] as Answer;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const limited = (retryAfter?: string): Answer => ({
  status: 429,
  ...(retryAfter === undefined ? {} : { headers: { 'retry-after': retryAfter } }),
  body: { error: { code: 'ERR_RATE_LIMITED', message: 'too many calls from you (limit 10/s, burst 20)' } },
});

describe('the API client on 429', () => {
  it('makes a refused call again after Retry-After, with the same body, and returns its answer', async () => {
    const { url, seen } = await serve([limited('0'), { status: 200, body: { ok: true } }]);
    const answer = await new ApiClient(url, 'jwt').request('POST', '/v1/namespaces/acme%2Fweb/pull', {
      names: ['A'],
    });
    expect(answer).toEqual({ ok: true });
    expect(seen).toEqual([
      { method: 'POST', body: '{"names":["A"]}' },
      { method: 'POST', body: '{"names":["A"]}' },
    ]);
  });

  it('gives up after a bounded number of attempts with ERR_RATE_LIMITED and the API message', async () => {
    const { url, seen } = await serve([limited('0')]);
    await expect(new ApiClient(url, 'jwt').request('GET', '/v1/namespaces')).rejects.toMatchObject({
      code: 'ERR_RATE_LIMITED',
      message: 'too many calls from you (limit 10/s, burst 20)',
    });
    expect(seen).toHaveLength(RATE_LIMIT_RETRIES + 1);
  });

  it('does not wait out a Retry-After longer than it allows: the 429 is the error at once', async () => {
    const { url, seen } = await serve([limited('3600')]);
    await expect(new ApiClient(url, 'jwt').request('GET', '/v1/namespaces')).rejects.toMatchObject({
      code: 'ERR_RATE_LIMITED',
    });
    expect(seen).toHaveLength(1);
  });

  it("reads a gateway's bare 429 (no error code) as ERR_RATE_LIMITED", async () => {
    const { url } = await serve([
      { status: 429, headers: { 'retry-after': '3600' }, body: { message: 'Too Many Requests' } },
    ]);
    await expect(new ApiClient(url, 'jwt').request('GET', '/v1/namespaces')).rejects.toMatchObject({
      code: 'ERR_RATE_LIMITED',
      message: 'the API answered HTTP 429',
    });
  });

  it('does not make any other refused call again', async () => {
    const { url, seen } = await serve([
      {
        status: 503,
        headers: { 'retry-after': '0' },
        body: { error: { code: 'ERR_STORE_UNAVAILABLE', message: 'down' } },
      },
    ]);
    await expect(new ApiClient(url, 'jwt').request('GET', '/v1/namespaces')).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    expect(seen).toHaveLength(1);
  });
});
