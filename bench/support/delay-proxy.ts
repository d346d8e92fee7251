/**
 * A loopback HTTP proxy that holds every request for a fixed delay before forwarding it
 * to its target, and counts requests by their `X-Amz-Target` operation. Put in front of
 * DynamoDB Local and moto, it turns a pull's round trips into measurable units.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DelayProxy {
  url: string;
  /** Requests seen since the last reset, by operation (e.g. "DynamoDB_20120810.BatchGetItem"). */
  counts(): Record<string, number>;
  total(): number;
  reset(): void;
  /** Change the delay for requests from now on. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startDelayProxy(target: string, delayMs: number): Promise<DelayProxy> {
  const upstream = new URL(target);
  let seen: Record<string, number> = {};
  let delay = delayMs;
  const server: Server = createServer((req, res) => {
    const operation = String(req.headers['x-amz-target'] ?? `${req.method} ${req.url}`);
    seen[operation] = (seen[operation] ?? 0) + 1;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      setTimeout(() => {
        const forward = request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => {
          res.writeHead(502).end();
        });
        forward.end(Buffer.concat(chunks));
      }, delay);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...seen }),
    total: () => Object.values(seen).reduce((a, b) => a + b, 0),
    reset: () => {
      seen = {};
    },
    setDelay: (ms: number) => {
      delay = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
