/**
 * The small subset of `fetch` that the OIDC exchange uses (one GET for the token, one POST
 * to STS), on node:http and node:https.
 *
 * Why not the global `fetch`: its first call loads Node's bundled undici and web streams,
 * about 55 ms of CPU on the CI machine (1.2× a bare `node -e 0`), before the Action's aws
 * path loads the AWS SDK, which brings node:http and node:https anyway. Answers here are a
 * few kB, so they are read whole (and capped). Failures look as fetch's do, so callers and
 * their retry rules treat both alike: an abort rejects with the signal's reason (a
 * `TimeoutError` from `AbortSignal.timeout`), anything else with `TypeError('fetch failed')`
 * and the system error as `cause`.
 */

export interface HttpInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** What callers read of an answer; a `Response` has all of it. */
export interface HttpAnswer {
  readonly ok: boolean;
  readonly status: number;
  text(): Promise<string>;
  json(): Promise<unknown>;
  readonly body: { cancel(): Promise<void> } | null;
}

/** `fetch`, narrowed to what the exchange uses; the global `fetch` is one (tests pass it or a recorder). */
export type HttpFetch = (url: string, init: HttpInit) => Promise<HttpAnswer>;

/** Far above any token or STS answer; a larger one is not what we asked for. */
const MAX_ANSWER_BYTES = 1 << 20;

/** One request on node:http(s); the module loads on first use, so nothing loads at import time. */
export const httpFetch: HttpFetch = async (url, init) => {
  const target = new URL(url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${target.protocol}`) });
  }
  const { request } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  init.signal?.throwIfAborted();
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  return new Promise<HttpAnswer>((resolve, reject) => {
    const fail = (error: unknown) => reject(failure(error, init.signal));
    const req = request(
      target,
      {
        method: init.method ?? 'GET',
        headers,
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) res.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            text: async () => text,
            json: async () => JSON.parse(text) as unknown,
            body: { cancel: async () => undefined },
          });
        });
      },
    );
    req.on('error', fail);
    req.end(init.body);
  });
};

function failure(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  return new TypeError('fetch failed', { cause: error });
}
