/**
 * A client of the API (docs/service.md) for the CLI: `EGG_API_URL` (https, or http on
 * loopback, so a bearer token never crosses a network in the clear) and the JWT of
 * `apiBearer`: `EGG_API_TOKEN`, else the `egg login --backend api` session's ID token. The
 * API's errors come back as the `EggError`s they were on the server, so the CLI prints and
 * exits as in the other modes.
 */
import { EggError, type EggErrorCode } from '../errors.js';
import { defaultHome } from '../home.js';
import { apiBearer } from './bearer.js';

/** The codes the API answers with that the CLI knows (others become ERR_STORE_UNAVAILABLE). */
const KNOWN: readonly string[] = [
  'ERR_INVALID_NAME',
  'ERR_INVALID_NAMESPACE',
  'ERR_INVALID_VALUE',
  'ERR_SECRET_NOT_FOUND',
  'ERR_NAMESPACE_NOT_FOUND',
  'ERR_CONFLICT',
  'ERR_ACCESS_DENIED',
  'ERR_USAGE',
  'ERR_UNAUTHENTICATED',
  'ERR_OIDC',
  'ERR_AUDIT_BROKEN',
  'ERR_DECRYPTION_FAILED',
];

/** `/v1/namespaces/<namespace with %2F>`: the one form the API reads (routes.ts). */
export function namespacePath(namespace: string): string {
  return `/v1/namespaces/${namespace.replaceAll('/', '%2F')}`;
}

export class ApiClient {
  readonly url: string;
  readonly #token: string;

  constructor(url: string, token: string) {
    this.url = url.replace(/\/+$/, '');
    this.#token = token;
  }

  /**
   * The client of `EGG_API_URL` with the bearer token of `apiBearer` (`EGG_API_TOKEN`, else the
   * login session in `home`), or an error naming what is missing. The URL is checked first,
   * so no token is read or refreshed for a URL it would not be sent to.
   */
  static async fromEnv(
    env: NodeJS.ProcessEnv = process.env,
    home: string = defaultHome(env),
  ): Promise<ApiClient> {
    const url = env.EGG_API_URL;
    if (url === undefined || url === '')
      throw new EggError('ERR_INVALID_CONFIG', 'EGG_API_URL is not set', {
        hint: 'set it to the URL `egg api serve` printed, or to your deployment’s API URL',
      });
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EggError('ERR_INVALID_CONFIG', 'EGG_API_URL is not a URL');
    }
    const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(parsed.hostname);
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback))
      throw new EggError('ERR_INVALID_CONFIG', `EGG_API_URL must be https (it is ${parsed.origin})`, {
        hint: 'your token would cross the network in the clear; plain http is allowed on loopback only',
      });
    return new ApiClient(parsed.href, await apiBearer(env, home));
  }

  /** One call: the answer's JSON, or the API's error as an `EggError`. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new EggError('ERR_STORE_UNAVAILABLE', `could not reach the API at ${this.url}`, {
        cause: error,
        hint: 'check EGG_API_URL and the network',
      });
    }
    const answer = (await response.json().catch(() => undefined)) as
      { error?: { code?: string; message?: string; hint?: string } } | undefined;
    if (response.ok) return answer;
    const error = answer?.error;
    const code = (KNOWN.includes(error?.code ?? '') ? error?.code : 'ERR_STORE_UNAVAILABLE') as EggErrorCode;
    throw new EggError(code, error?.message ?? `the API answered HTTP ${response.status}`, {
      ...(error?.hint === undefined ? {} : { hint: error.hint }),
    });
  }
}
