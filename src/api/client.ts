/**
 * A client of the API (docs/service.md) for the CLI: the API at `EGG_API_URL` (https, or http
 * on loopback, so a bearer token never crosses a network in the clear) with the bearer
 * `apiBearer` finds (bearer.ts). The API's errors come back as the `EggError`s they were on
 * the server, so the CLI prints and exits as in the other modes.
 */
import type { EggConfig } from '../config.js';
import { sourceSuffix } from '../config.js';
import { EggError, type EggErrorCode } from '../errors.js';
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
  'ERR_RATE_LIMITED',
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
   * The client of the configured API URL (`EGG_API_URL`, `apiUrl` in .egg.json) with the
   * bearer of `apiBearer`, or an error naming what is missing or wrong.
   */
  static async connect(
    config: Pick<EggConfig, 'apiUrl' | 'home' | 'sources'>,
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<ApiClient> {
    return new ApiClient(apiUrlOf(config), await apiBearer(env, config.home));
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

/** The configured API URL, parsed and checked: https, or http on loopback only. */
export function apiUrlOf(config: Pick<EggConfig, 'apiUrl' | 'sources'>): string {
  const url = config.apiUrl;
  if (url === undefined)
    throw new EggError('ERR_INVALID_CONFIG', 'the api backend needs EGG_API_URL', {
      hint: 'set it to the URL `egg api serve` printed, or to your deployment’s API URL',
    });
  const from = sourceSuffix(config, 'apiUrl');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EggError('ERR_INVALID_CONFIG', `the API URL is not a URL${from}`);
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback))
    throw new EggError('ERR_INVALID_CONFIG', `the API URL must be https (it is ${parsed.origin})${from}`, {
      hint: 'your token would cross the network in the clear; plain http is allowed on loopback only',
    });
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '')
    throw new EggError('ERR_INVALID_CONFIG', `the API URL must name no user, query or fragment${from}`);
  return parsed.href;
}
