/**
 * The console's HTTP handler: the gate first (Host, then the session; the one-time secret is
 * the only thing served without one), then the page, its two static files and the JSON API.
 * Every answer carries a Content-Security-Policy that allows only this origin's own script,
 * style and requests (no inline script, no frame, no form to elsewhere), and is never cached.
 * A POST must also pass the gate's origin and CSRF checks and be JSON of at most 64 KiB.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { auditFilter, type ConsoleApi } from './api.js';
import { ConsoleGate, type Session } from './gate.js';

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const MAX_BODY = 64 * 1024;

/** The page's bundled script and style (assets.ts). */
export interface ConsoleAssets {
  js: string;
  css: string;
}

/** The page: a shell the script fills. Static, so nothing a user stored can reach its markup. */
const INDEX = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>egg console</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<noscript>The egg console needs JavaScript.</noscript>
</body>
</html>
`;

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The status for an `EggError` from the library: the caller's mistake, a missing thing, a race, or ours. */
function statusOf(error: EggError): number {
  switch (error.code) {
    case 'ERR_USAGE':
    case 'ERR_INVALID_VALUE':
    case 'ERR_INVALID_NAME':
    case 'ERR_INVALID_NAMESPACE':
      return 400;
    case 'ERR_SECRET_NOT_FOUND':
    case 'ERR_TOKEN_NOT_FOUND':
    case 'ERR_NAMESPACE_NOT_FOUND':
      return 404;
    case 'ERR_CONFLICT':
    case 'ERR_TOKEN_NOT_ACTIVE':
      return 409;
    default:
      return 500;
  }
}

export interface ConsoleServerOptions {
  gate: ConsoleGate;
  api: ConsoleApi;
  assets: () => Promise<ConsoleAssets>;
  logger?: Logger;
}

/** The request listener of the console's server (serve.ts binds it once the port is known). */
export function consoleHandler(
  options: ConsoleServerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { gate, api } = options;
  const logger = options.logger ?? nullLogger;

  const send = (res: ServerResponse, status: number, type: string, body: string, extra = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra }).end(body);
  };
  const json = (res: ServerResponse, status: number, value: unknown) =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
  const refuse = (res: ServerResponse, status: number, message: string) =>
    send(res, status, 'text/plain; charset=utf-8', `egg console: ${message}\n`);

  async function route(req: IncomingMessage, res: ServerResponse, session: Session, url: URL) {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (method === 'GET') {
      switch (path) {
        case '/':
          return send(res, 200, 'text/html; charset=utf-8', INDEX);
        case '/app.js':
          return send(res, 200, 'text/javascript; charset=utf-8', (await options.assets()).js);
        case '/app.css':
          return send(res, 200, 'text/css; charset=utf-8', (await options.assets()).css);
        case '/api/about':
          return json(res, 200, { ...api.about(), csrf: session.csrf });
        case '/api/tokens':
          return json(res, 200, { tokens: await api.tokens(), now: new Date().toISOString() });
        case '/api/secrets':
          return json(res, 200, { secrets: await api.secrets() });
        case '/api/audit':
          return json(res, 200, { records: await api.audit(auditFilter(url.searchParams)) });
        case '/api/audit/verify':
          return json(res, 200, await api.verifyAudit());
        case '/api/sealing-key':
          return json(res, 200, await api.sealingKey());
        case '/api/audit/export': {
          const name = `egg-audit-${api.namespace.replaceAll('/', '_')}.jsonl`;
          return send(
            res,
            200,
            'application/x-ndjson; charset=utf-8',
            await api.auditLines(auditFilter(url.searchParams)),
            { 'content-disposition': `attachment; filename="${name}"` },
          );
        }
      }
      throw new HttpRefusal(404, 'nothing here');
    }
    if (method !== 'POST') throw new HttpRefusal(405, 'only GET and POST');
    const refusal = gate.writeRefusal(req.headers, session);
    if (refusal !== undefined) {
      logger.warn('console.write_refused', { path, reason: refusal });
      throw new HttpRefusal(403, 'this request did not come from the console page');
    }
    const body = await readJson(req);
    switch (path) {
      case '/api/tokens':
        return json(res, 200, await api.mint(body));
      case '/api/tokens/revoke':
        return json(res, 200, await api.revoke(body));
      case '/api/tokens/rotate':
        return json(res, 200, await api.rotate(body));
      case '/api/killswitch':
        return json(res, 200, await api.killSwitch(body));
      case '/api/provider-keys':
        return json(res, 200, await api.putProviderKey(body));
    }
    throw new HttpRefusal(404, 'nothing here');
  }

  return (req, res) => {
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    if (!gate.hostAllowed(req.headers.host)) return refuse(res, 421, 'wrong host');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const secret = url.searchParams.get('secret');
    if (req.method === 'GET' && url.pathname === '/' && secret !== null) {
      const session = gate.exchange(secret);
      if (session === undefined)
        return refuse(res, 401, 'this link was already used or is wrong; run egg console again');
      logger.info('console.session_started', {});
      return send(res, 303, 'text/plain; charset=utf-8', '', {
        location: '/',
        'set-cookie': ConsoleGate.cookie(session),
      });
    }
    const session = gate.session(req.headers);
    if (session === undefined) return refuse(res, 401, 'no session; open the link egg console printed');
    route(req, res, session, url).catch((error: unknown) => {
      if (error instanceof HttpRefusal) return refuse(res, error.status, error.message);
      if (error instanceof EggError) {
        const status = statusOf(error);
        if (status === 500) logger.warn('console.failed', { path: url.pathname, code: error.code });
        return json(res, status, {
          error: {
            code: error.code,
            message: error.message,
            ...(error.hint === undefined ? {} : { hint: error.hint }),
          },
        });
      }
      logger.warn('console.failed', {
        path: url.pathname,
        error: error instanceof Error ? error.name : 'unknown',
      });
      return json(res, 500, {
        error: { code: 'ERR_INTERNAL', message: 'unexpected error; the terminal shows it' },
      });
    });
  };
}

/** The request's JSON body: `application/json`, at most 64 KiB. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpRefusal(415, 'send JSON');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpRefusal(413, 'the request is too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpRefusal(400, 'the request body is not JSON');
  }
}
