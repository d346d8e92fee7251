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

  /**
   * One call: the answer's JSON, or the API's error as an `EggError`. A 429 (the limit per
   * caller, or the gateway's stage limit) is answered before any handler runs, so the call is
   * made again, whatever its method, after the `Retry-After` it names (1 s when it names
   * none): at most `RATE_LIMIT_RETRIES` times, and only for a wait of at most
   * `MAX_RETRY_AFTER_SECONDS`; past that the 429 is the error.
   */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const response = await this.#send(method, path, body);
      const wait = retryAfterSeconds(response);
      if (response.status === 429 && attempt < RATE_LIMIT_RETRIES && wait <= MAX_RETRY_AFTER_SECONDS) {
        await response.body?.cancel();
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        continue;
      }
      return answerOf(response);
    }
  }

  async #send(method: string, path: string, body: unknown): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, {
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
  }
}

/** How often a call refused with 429 is made again, and the longest wait for it. */
export const RATE_LIMIT_RETRIES = 2;
export const MAX_RETRY_AFTER_SECONDS = 10;

/** The whole seconds of `Retry-After` (1 when absent or not a number of seconds). */
function retryAfterSeconds(response: Response): number {
  const header = response.headers.get('retry-after');
  return header !== null && /^\d{1,6}$/.test(header) ? Number(header) : 1;
}

/** The answer's JSON, or its error as an `EggError` (a gateway's bare 429 is `ERR_RATE_LIMITED`). */
async function answerOf(response: Response): Promise<unknown> {
  const answer = (await response.json().catch(() => undefined)) as
    { error?: { code?: string; message?: string; hint?: string } } | undefined;
  if (response.ok) return answer;
  const error = answer?.error;
  const fallback = response.status === 429 ? 'ERR_RATE_LIMITED' : 'ERR_STORE_UNAVAILABLE';
  const code = (KNOWN.includes(error?.code ?? '') ? error?.code : fallback) as EggErrorCode;
  throw new EggError(code, error?.message ?? `the API answered HTTP ${response.status}`, {
    ...(error?.hint === undefined ? {} : { hint: error.hint }),
  });
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
