/**
 * The API's composition: one backend, opened as the API itself (its actor is `api`; on aws the
 * Lambda's role or the server's credentials, the only writer of the table in the service
 * deployment), a JWT verifier for the configured issuers, the limit per caller counted in
 * that backend's store (throttle.ts), and the API over them. Both adapters (serve.ts,
 * lambda.ts) and the tests open it here.
 */
import type { Backend } from '../backends/backend.js';
import { osUserIdentity } from '../backends/identity.js';
import { openBackend } from '../backends/open-backend.js';
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { isCallCountStore, isMemberStore } from '../stores/store.js';
import { type Api, createApi } from './api.js';
import type { Handler } from './handlers.js';
import { type IssuerSetting, JwtVerifier } from './jwt.js';
import type { RouteName } from './routes.js';
import { assertCallLimit, type CallLimit, CallLimiter, DEFAULT_CALL_LIMIT } from './throttle.js';

export interface ApiServiceOptions {
  issuers: readonly IssuerSetting[];
  logger?: Logger;
  clock?: () => Date;
  /** Tests wrap the handlers to see which ran. */
  handlers?: Readonly<Record<RouteName, Handler>>;
  /** The limit per caller (`DEFAULT_CALL_LIMIT` unless given); `false`: none. */
  callLimit?: CallLimit | false;
}

export interface ApiService {
  api: Api;
  /** The issuers it trusts. */
  issuers: readonly string[];
  /** The backend it runs on (the bench and the tests read the audit trail through it). */
  backend: Backend;
  close(): Promise<void>;
}

/** Open the backend of `config` for the API and build the API over it; `close()` closes the backend. */
export async function openApiService(config: EggConfig, options: ApiServiceOptions): Promise<ApiService> {
  const logger = options.logger ?? nullLogger;
  const limit = options.callLimit ?? DEFAULT_CALL_LIMIT;
  // A limit that is not whole is refused before the backend opens.
  if (limit !== false) assertCallLimit(limit);
  const verifier = new JwtVerifier({
    issuers: options.issuers,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const backend = await openBackend(config, osUserIdentity('api'), { logger, create: true });
  const { store } = backend;
  if (!isMemberStore(store) || !isCallCountStore(store)) {
    await backend.close();
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `the ${store.kind} store keeps no members or call counts, so the API cannot run on it`,
    );
  }
  const api = createApi({
    verifier,
    context: {
      backend,
      members: store,
      rotation: config.rotation,
      issuers: verifier.issuers,
      logger,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    },
    ...(options.handlers === undefined ? {} : { handlers: options.handlers }),
    ...(limit === false ? {} : { limiter: new CallLimiter(store, limit, options.clock) }),
  });
  return { api, issuers: verifier.issuers, backend, close: () => backend.close() };
}
