/**
 * Who may talk to the console (`egg console`), as Jupyter's token login does it: the printed
 * URL carries a one-time secret (256 bits) that the first request trades for a session cookie
 * (HttpOnly, SameSite=Strict); the secret is void after that, used or not by anyone else.
 * Every request must name this server by its loopback address and port in `Host` (a page on a
 * rebound DNS name is refused), and every state-changing request must come from the console's
 * own origin and carry the session's CSRF token in a header, which no other origin can read.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The session cookie's name. */
export const SESSION_COOKIE = 'egg_console';
/** The header that carries the CSRF token on every POST and DELETE. */
export const CSRF_HEADER = 'x-egg-csrf';

export interface Session {
  readonly id: string;
  readonly csrf: string;
}

/** Why a state-changing request was refused, in words for the 403's body. */
export type WriteRefusal = 'origin' | 'fetch-site' | 'csrf';

const random = () => randomBytes(32).toString('base64url');

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class ConsoleGate {
  readonly port: number;
  #secret: string | undefined = random();
  #session: Session | undefined;

  constructor(port: number) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new TypeError('a bound port is needed');
    this.port = port;
  }

  /** The URL to print (and open): the only place the one-time secret ever appears. */
  oneTimeUrl(): string {
    if (this.#secret === undefined) throw new TypeError('the one-time secret was already used');
    return `http://127.0.0.1:${this.port}/?secret=${this.#secret}`;
  }

  /** `Host` must be this server's loopback address and port: DNS rebinding names are refused. */
  hostAllowed(host: string | undefined): boolean {
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`;
  }

  /**
   * Trade the one-time secret for the session. The secret is spent by the first try that
   * names it; every later one, and every wrong one, gets nothing.
   */
  exchange(secret: string): Session | undefined {
    if (this.#secret === undefined || !same(secret, this.#secret)) return undefined;
    this.#secret = undefined;
    this.#session = { id: random(), csrf: random() };
    return this.#session;
  }

  /** The session the request's cookie names, if any. */
  session(headers: IncomingHttpHeaders): Session | undefined {
    const session = this.#session;
    if (session === undefined) return undefined;
    const id = cookie(headers.cookie, SESSION_COOKIE);
    return id !== undefined && same(id, session.id) ? session : undefined;
  }

  /** The `Set-Cookie` value for `session`. No `Secure`: the console speaks HTTP on loopback. */
  static cookie(session: Session): string {
    return `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /**
   * A POST or DELETE must come from the page itself: `Origin` is the console's own (the origin
   * the `Host` names), a browser's `Sec-Fetch-Site` (when sent) says same-origin, and the CSRF
   * header matches the session's token.
   */
  writeRefusal(headers: IncomingHttpHeaders, session: Session): WriteRefusal | undefined {
    if (headers.origin === undefined || headers.origin !== `http://${headers.host}`) return 'origin';
    const site = headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin') return 'fetch-site';
    const csrf = headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !same(csrf, session.csrf)) return 'csrf';
    return undefined;
  }
}

/** The value of cookie `name` in a `Cookie` header. */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
