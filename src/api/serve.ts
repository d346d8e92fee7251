/**
 * `egg api serve`: the API on node:http, for self-hosting and the embedded default. The body
 * is read up to `MAX_BODY_BYTES` (a larger `Content-Length` is refused unread, a longer stream
 * cut off); everything else, the JWT first, is api.ts's. Answers are JSON with
 * `Cache-Control: no-store` and no CORS header at all, so no web page can read them; a
 * preflight has no token and gets the 401 every tokenless request gets. Plain HTTP: put TLS
 * in front of it anywhere but loopback (docs/service.md).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorLabel } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { type Api, type ApiRequest, type ApiResponse, MAX_BODY_BYTES } from './api.js';

export interface ServeApiOptions {
  host?: string;
  port?: number;
  logger?: Logger;
}

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** The headers of every answer. */
const BASE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/** An answer as bytes and headers, the same in both adapters. */
export function encodeResponse(response: ApiResponse): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  return {
    status: response.status,
    headers: { ...BASE_HEADERS, ...response.headers },
    body: JSON.stringify(response.body),
  };
}

/** Listen on `host:port` (127.0.0.1, 8788 by default) and answer with `api`. */
export async function serveApi(api: Api, options: ServeApiOptions = {}): Promise<RunningApi> {
  const logger = options.logger ?? nullLogger;
  const server = createServer((req, res) => {
    answer(api, req, res).catch((error: unknown) => {
      logger.warn('api.request_failed', { error: errorLabel(error) });
      if (!res.headersSent)
        send(res, { status: 500, body: { error: { code: 'ERR_INTERNAL', message: 'the API failed' } } });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8788, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
}

async function answer(api: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    send(res, tooLarge(), true);
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    send(res, tooLarge(), true);
    return;
  }
  const target = req.url ?? '/';
  const mark = target.indexOf('?');
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers))
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  const request: ApiRequest = {
    method: req.method ?? 'GET',
    path: mark === -1 ? target : target.slice(0, mark),
    query: mark === -1 ? '' : target.slice(mark + 1),
    headers,
    body,
  };
  send(res, await api(request));
}

function tooLarge(): ApiResponse {
  return {
    status: 413,
    body: { error: { code: 'ERR_USAGE', message: `the body is larger than ${MAX_BODY_BYTES} bytes` } },
  };
}

/** The body, or undefined once it passes the limit (the rest is not read). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, response: ApiResponse, close = false): void {
  const { status, headers, body } = encodeResponse(response);
  res.writeHead(status, {
    ...headers,
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}
