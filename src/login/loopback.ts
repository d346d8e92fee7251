/**
 * The loopback redirect of a browser login (RFC 8252 §7.3): an HTTP listener on
 * `127.0.0.1` only (the literal address, not `localhost`, §8.3), on the configured port or
 * any free one, that accepts exactly one `GET /callback`, then stops listening. The page it
 * shows never repeats what it received; a timeout ends the wait with a clear error.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EggError } from '../errors.js';

export const CALLBACK_PATH = '/callback';

/** How long a browser login waits for the redirect unless told otherwise. */
export const DEFAULT_CALLBACK_TIMEOUT_MS = 5 * 60_000;

export interface CallbackOptions<T> {
  /** 0 for any free port. */
  port: number;
  timeoutMs: number;
  /** Judge the redirect's query: return what the login needs, or throw to refuse it. */
  accept: (params: URLSearchParams) => T;
}

export interface CallbackListener<T> {
  /** `http://127.0.0.1:<port>/callback`, the port being the one actually bound. */
  redirectUri: string;
  /** Settles once: with `accept`'s value, its error, or a timeout. */
  result: Promise<T>;
  /** Stop listening (idempotent); a pending `result` rejects. */
  close(): void;
}

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // The page's own URL holds the code: keep it out of any Referer, frame or script.
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  connection: 'close',
};

const page = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>egg login</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`;

const DONE = page(
  'egg login: sign-in received',
  'You can close this tab. The terminal shows whether the login completed.',
);
const REFUSED = page(
  'egg login: sign-in refused',
  'egg did not accept this sign-in response. You can close this tab; the terminal says why.',
);

/** Listen for the redirect; resolves once the port is bound. */
export async function listenForCallback<T>(options: CallbackOptions<T>): Promise<CallbackListener<T>> {
  const { promise: result, resolve, reject } = Promise.withResolvers<T>();
  // The caller may await `result` only after opening the browser; a refusal before then is not "unhandled".
  result.catch(() => {});
  let done = false;
  let port = 0;

  const server = createServer((req, res) => {
    if (done || !isCallback(req, res, port)) return;
    done = true;
    // One request accepted: stop listening now; this connection stays open for the answer.
    stop();
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: options.accept(new URL(req.url ?? '/', 'http://127.0.0.1').searchParams) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    res
      .writeHead(outcome.ok ? 200 : 400, HEADERS)
      .end(outcome.ok ? DONE : REFUSED, () => server.closeAllConnections());
    if (outcome.ok) resolve(outcome.value);
    else reject(outcome.error);
  });
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    stop();
    server.closeAllConnections();
    reject(
      new EggError(
        'ERR_LOGIN_REQUIRED',
        `the browser sign-in did not finish within ${duration(options.timeoutMs)}`,
        {
          hint: 'run `egg login` again and finish signing in sooner; with --no-open, open the printed link in a browser on this machine',
        },
      ),
    );
  }, options.timeoutMs);
  const stop = () => {
    clearTimeout(timer);
    server.close();
  };

  try {
    await new Promise<void>((bound, failed) => {
      server.once('error', (error: NodeJS.ErrnoException) => failed(bindError(error, options.port)));
      server.listen({ port: options.port, host: '127.0.0.1', exclusive: true }, () => bound());
    });
  } catch (error) {
    done = true;
    clearTimeout(timer);
    throw error;
  }
  port = (server.address() as AddressInfo).port;
  server.on('error', () => {});

  return {
    redirectUri: `http://127.0.0.1:${port}${CALLBACK_PATH}`,
    result,
    close: () => {
      if (!done) {
        done = true;
        reject(new EggError('ERR_LOGIN_REQUIRED', 'the login was abandoned'));
      }
      stop();
      server.closeAllConnections();
    },
  };
}

/**
 * Only `GET /callback` addressed to `127.0.0.1:<port>` counts; anything else (a favicon, a
 * page on another host name reaching us by DNS rebinding) gets an error and does not use up
 * the one request.
 */
function isCallback(req: IncomingMessage, res: ServerResponse, port: number): boolean {
  const refuse = (status: number) => {
    res.writeHead(status, HEADERS).end(page('egg login', 'Nothing here.'));
    return false;
  };
  if (req.headers.host !== `127.0.0.1:${port}`) return refuse(421);
  if (req.method !== 'GET') return refuse(405);
  const path = (req.url ?? '').split('?', 1)[0];
  if (path !== CALLBACK_PATH) return refuse(404);
  return true;
}

function bindError(error: NodeJS.ErrnoException, port: number): EggError {
  const why = error.code === 'EADDRINUSE' ? 'it is in use' : `${error.code ?? 'error'}`;
  return new EggError('ERR_CONFLICT', `cannot listen on 127.0.0.1:${port} for the login’s redirect: ${why}`, {
    cause: error,
    hint: 'free the port, or set --redirect-port (EGG_OIDC_REDIRECT_PORT) to another one registered at the issuer as http://127.0.0.1:PORT/callback (0: any free port, where the issuer allows it)',
  });
}

/** `300000` → "5 minutes", `1000` → "1 second". */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds % 60 === 0 && seconds >= 60) {
    const minutes = seconds / 60;
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}
