/**
 * The job's OIDC token from the runner's token endpoint, speaking the protocol of
 * @actions/core's `getIDToken` (lib/oidc-utils.js): GET `ACTIONS_ID_TOKEN_REQUEST_URL`
 * with `&audience=…`, `Authorization: Bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answer
 * `{"value": "<jwt>"}`; the token is masked as soon as it arrives.
 *
 * Why not `core.getIDToken`: it brings @actions/http-client and undici (~450 kB minified,
 * about as much as the DynamoDB and KMS clients together) for this one GET, which
 * `httpFetch` does on node:http(s). Retries are ours: 5xx, 408, 429 and dropped
 * connections, with full jitter; a 401/403 is not retried.
 */
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import { retry } from '../retry.js';
import { type HttpFetch, httpFetch } from './http-fetch.js';

export interface IdTokenOptions {
  env?: NodeJS.ProcessEnv;
  /** Registers the token as a mask (`core.setSecret`) before anything else sees it. */
  mask: (token: string) => void;
  logger?: Logger;
  /** `httpFetch` by default; the global `fetch` works too. */
  fetch?: HttpFetch;
  sleep?: (ms: number) => Promise<void>;
  timeoutMs?: number;
}

/** The endpoint answered with an HTTP error. */
class TokenRequestFailed extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`the OIDC token endpoint answered HTTP ${status}`);
    this.name = 'TokenRequestFailed';
    this.status = status;
  }
}

/** The OIDC token for `audience`; a clear error when the job may not have one. */
export async function fetchIdToken(audience: string, options: IdTokenOptions): Promise<string> {
  const env = options.env ?? process.env;
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !bearer) {
    throw new EggError(
      'ERR_ACCESS_DENIED',
      'this job cannot request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set',
      {
        hint: 'add `permissions: id-token: write` to the job or the workflow (a pull request from a fork never gets one)',
      },
    );
  }
  const doFetch = options.fetch ?? httpFetch;
  // As @actions/core does: the runner's URL already carries a query (`?api-version=…`).
  const target = `${url}&audience=${encodeURIComponent(audience)}`;
  try {
    const token = await retry(
      async () => {
        const response = await doFetch(target, {
          headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
        if (!response.ok) {
          await response.body?.cancel();
          throw new TokenRequestFailed(response.status);
        }
        const body = (await response.json().catch(() => undefined)) as { value?: unknown } | undefined;
        if (typeof body?.value !== 'string' || body.value === '') {
          throw new EggError('ERR_ACCESS_DENIED', 'the OIDC token endpoint answered without a token');
        }
        return body.value;
      },
      {
        label: 'oidc.token',
        attempts: 4,
        baseMs: 200,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
        ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
        isRetryable: (error) =>
          error instanceof TokenRequestFailed
            ? error.status >= 500 || error.status === 408 || error.status === 429
            : !(error instanceof EggError),
      },
    );
    options.mask(token);
    return token;
  } catch (error) {
    if (error instanceof EggError) throw error;
    const status = error instanceof TokenRequestFailed ? error.status : undefined;
    throw new EggError(
      'ERR_ACCESS_DENIED',
      `could not get an OIDC token from the runner (${status === undefined ? (error as Error).name : `HTTP ${status}`})`,
      {
        cause: error,
        hint:
          status === 401 || status === 403
            ? 'the runner refused the request; check `permissions: id-token: write`'
            : 'the runner’s token service may be unavailable; re-run the job',
      },
    );
  }
}
