/**
 * The API's one way in, shared by both adapters (serve.ts, lambda.ts): a request is
 *
 * 1. authenticated: its JWT is verified (jwt.ts) before anything else, even the routing;
 * 2. counted: the caller's call is counted against its limit (throttle.ts), so refused and
 *    failing calls count too; over the limit it gets 429 and nothing else runs;
 * 3. routed: the path and query are parsed once (routes.ts);
 * 4. authorized: the caller's membership of the namespace is read, and a caller who is not a
 *    member gets the one 404 a missing namespace gets; a member whose role is too weak, 403;
 * 5. handled: the body is parsed (JSON only) and the route's handler runs (handlers.ts).
 *
 * Every call leaves an audit record: the library's own for what it did, or one written here
 * (the route, the caller's principal, the outcome) when the call wrote none, refused ones
 * included. A call refused before it has a caller is recorded in the service's trail
 * (`SERVICE_TRAIL`), which no namespace can be named. A call whose record cannot be written
 * fails (503): no answer goes out unrecorded. A caller over its limit is recorded in the
 * service's trail at the first refusal of each window only (throttle.ts says why and how the
 * rest are counted); the others are answered unrecorded, and that is the one exception.
 */
import { EggError, errorLabel, isEggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import type { AuditRecord, MemberRecord, SecretStore } from '../stores/store.js';
import { chainRecord } from '../vault/audit.js';
import type { ApiContext, ApiResponse, Call, Handler } from './handlers.js';
import { handlers as defaultHandlers } from './handlers.js';
import { Unauthenticated } from './jwt.js';
import { type Caller, membershipOf, roleAllows } from './principal.js';
import {
  MAX_BODY_BYTES,
  parseDecodedRoute,
  parseRoute,
  RequestRefused,
  type Route,
  type RouteName,
} from './routes.js';
import type { CallLimiter, Refusal } from './throttle.js';

export type { ApiResponse } from './handlers.js';

/** The trail of calls refused before they had a caller: not a namespace (`@` is never in one). */
export const SERVICE_TRAIL = '@api';

export { MAX_BODY_BYTES } from './routes.js';

/** A request as both adapters hand it over: the path raw (undecoded), the query raw. */
export interface ApiRequest {
  method: string;
  path: string;
  /** The gateway percent-decoded `path` (API Gateway HTTP APIs): the route is found by `parseDecodedRoute`. */
  pathDecoded?: boolean;
  query: string;
  /** Lowercase names. */
  headers: Readonly<Record<string, string | undefined>>;
  body: Buffer;
}

export interface ApiOptions {
  verifier: { verify(authorization: string | undefined): Promise<Caller> };
  context: ApiContext;
  /** The handlers by route (tests wrap them to see which ran). */
  handlers?: Readonly<Record<RouteName, Handler>>;
  /** The limit per caller; none when absent. */
  limiter?: CallLimiter;
}

export type Api = (request: ApiRequest) => Promise<ApiResponse>;

const STATUS: Partial<Record<string, number>> = {
  ERR_UNAUTHENTICATED: 401,
  ERR_ACCESS_DENIED: 403,
  ERR_NAMESPACE_NOT_FOUND: 404,
  ERR_SECRET_NOT_FOUND: 404,
  ERR_CONFLICT: 409,
  ERR_USAGE: 400,
  ERR_INVALID_NAME: 400,
  ERR_INVALID_NAMESPACE: 400,
  ERR_INVALID_VALUE: 400,
  ERR_RATE_LIMITED: 429,
  ERR_OIDC: 503,
  ERR_STORE_UNAVAILABLE: 503,
};

/** The API over `options.context`: one function from request to response. */
export function createApi(options: ApiOptions): Api {
  const { verifier, context, limiter } = options;
  const table = options.handlers ?? defaultHandlers;
  const logger = context.logger ?? nullLogger;
  const clock = context.clock ?? (() => new Date());

  const append = (
    store: SecretStore,
    namespace: string,
    actor: string,
    action: string,
    targets: string[],
    outcome: string,
  ) =>
    store.appendAudit(namespace, (head) =>
      chainRecord(namespace, head, { action, targets, actor, outcome }, clock()),
    );

  /** The answer to a caller over its limit (or whose calls cannot be counted), or undefined to go on. */
  const overLimit = async (
    limiter: CallLimiter,
    caller: Caller,
    asked: string,
  ): Promise<ApiResponse | undefined> => {
    let refusal: Refusal | undefined;
    try {
      refusal = await limiter.admit(caller.principal);
    } catch (error) {
      logger.warn('api.count_failed', { error: errorLabel(error) });
      await append(
        context.backend.store,
        SERVICE_TRAIL,
        caller.principal,
        'api.call',
        [asked],
        'store-unavailable',
      ).catch((failure: unknown) =>
        logger.warn('api.audit_failed', { trail: SERVICE_TRAIL, error: errorLabel(failure) }),
      );
      return errorResponse(
        new EggError(
          'ERR_STORE_UNAVAILABLE',
          'your calls could not be counted against your limit, so the call was not answered',
          { hint: 'try again' },
        ),
        logger,
      );
    }
    if (refusal === undefined) return undefined;
    const refused = new RateLimited(limiter.limit, refusal.retryAfter);
    if (refusal.record === undefined) return errorResponse(refused, logger);
    const { earlier } = refusal.record;
    const targets = [asked];
    if (earlier !== undefined)
      targets.push(
        `and ${earlier.unrecorded} more refused, unrecorded, in the window from ${earlier.windowStart.toISOString()}`,
      );
    try {
      await append(
        context.backend.store,
        SERVICE_TRAIL,
        caller.principal,
        'api.throttled',
        targets,
        'refused:429',
      );
    } catch (error) {
      logger.warn('api.audit_failed', { trail: SERVICE_TRAIL, error: errorLabel(error) });
      return errorResponse(unrecorded(), logger);
    }
    return errorResponse(refused, logger);
  };

  return async (request) => {
    // What was asked, cut short: never the token, never a body.
    const asked = `${request.method.slice(0, 10)} ${request.path.slice(0, 200)}`;
    let caller: Caller;
    try {
      caller = await verifier.verify(request.headers.authorization);
    } catch (error) {
      const outcome = error instanceof Unauthenticated ? `refused:${error.reason}` : outcomeOf(error);
      await append(context.backend.store, SERVICE_TRAIL, 'anonymous', 'api.call', [asked], outcome).catch(
        (failure: unknown) =>
          logger.warn('api.audit_failed', { trail: SERVICE_TRAIL, error: errorLabel(failure) }),
      );
      return errorResponse(error, logger);
    }

    const limited = limiter === undefined ? undefined : await overLimit(limiter, caller, asked);
    if (limited !== undefined) return limited;

    const recorder = recordingStore(context.backend.store);
    let route: Route | undefined;
    let response: ApiResponse;
    let outcome = 'ok';
    try {
      route = (request.pathDecoded === true ? parseDecodedRoute : parseRoute)(
        request.method,
        request.path,
        request.query,
      );
      const member =
        route.role === undefined && route.name !== 'namespaces.create'
          ? undefined
          : await authorize(context, caller, route);
      const call: Call = { caller, route, member, body: parseBody(request), store: recorder.store };
      response = await table[route.name](context, call);
    } catch (error) {
      outcome = outcomeOf(error);
      response = errorResponse(error, logger);
    }
    if (recorder.appended() > 0) return response;
    const targets = route?.secret === undefined ? [] : [route.secret];
    try {
      await append(
        context.backend.store,
        route?.namespace ?? SERVICE_TRAIL,
        caller.principal,
        route?.name ?? 'api.call',
        targets,
        outcome,
      );
    } catch (error) {
      logger.warn('api.audit_failed', { route: route?.name ?? 'none', error: errorLabel(error) });
      return errorResponse(unrecorded(), logger);
    }
    return response;
  };
}

function unrecorded(): EggError {
  return new EggError(
    'ERR_STORE_UNAVAILABLE',
    'the call could not be recorded in the audit trail, so it was not answered',
    { hint: 'try again' },
  );
}

/** The refusal of a caller over its limit: 429, with when to try again. */
class RateLimited extends EggError {
  readonly retryAfter: number;
  constructor(limit: { rps: number; burst: number }, retryAfter: number) {
    super(
      'ERR_RATE_LIMITED',
      `too many calls from you: the API takes ${limit.rps} a second from each caller, ${limit.burst} at once`,
      { hint: `try again in ${retryAfter} s` },
    );
    this.name = 'RateLimited';
    this.retryAfter = retryAfter;
  }
}

/**
 * The caller's membership of the route's namespace, or the refusal: `ERR_NAMESPACE_NOT_FOUND`
 * alike for a namespace that does not exist and one the caller is not a member of (an empty
 * member list either way: the check reads nothing else); `ERR_ACCESS_DENIED` for a role too
 * weak. `namespaces.create` needs no membership (it is handed the one found, if any).
 */
async function authorize(
  context: ApiContext,
  caller: Caller,
  route: Route,
): Promise<MemberRecord | undefined> {
  const namespace = route.namespace as string;
  const member = membershipOf(caller, await context.members.listMembers(namespace));
  if (route.role === undefined) return member;
  if (member === undefined) throw new NotAMember(namespace);
  if (!roleAllows(member.role, route.role))
    throw new EggError(
      'ERR_ACCESS_DENIED',
      `your role in ${namespace} is ${member.role}, and ${route.name} needs ${route.role}`,
      {
        hint: 'ask an admin of the namespace for that role',
      },
    );
  return member;
}

/** The one refusal of a namespace the caller may not see, whether or not it exists. */
class NotAMember extends EggError {
  constructor(namespace: string) {
    super('ERR_NAMESPACE_NOT_FOUND', `namespace ${namespace} does not exist, or you are not a member of it`, {
      hint: 'ask its owner to add you (`egg members add`)',
    });
    this.name = 'NotAMember';
  }
}

/** The body as JSON (undefined when empty): `application/json` only, at most `MAX_BODY_BYTES`. */
function parseBody(request: ApiRequest): unknown {
  if (request.body.length === 0) return undefined;
  if (request.body.length > MAX_BODY_BYTES)
    throw new RequestRefused(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\s*(?:;\s*charset=utf-8\s*)?$/i.test(type))
    throw new RequestRefused(415, 'the body must be JSON (content-type: application/json)');
  try {
    return JSON.parse(request.body.toString('utf8'));
  } catch {
    throw new RequestRefused(400, 'the body is not valid JSON');
  }
}

/** An error as an answer: its status, its code, message and hint (ours never hold a value); anything else is a 500 that says nothing. */
function errorResponse(error: unknown, logger: Logger): ApiResponse {
  if (!isEggError(error)) {
    logger.warn('api.failed', { error: errorLabel(error) });
    return { status: 500, body: { error: { code: 'ERR_INTERNAL', message: 'the API failed; see its log' } } };
  }
  const status = error instanceof RequestRefused ? error.status : (STATUS[error.code] ?? 500);
  if (status >= 500) logger.warn('api.error', { code: error.code });
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Bearer error="invalid_token"';
  if (error instanceof RequestRefused && error.allow !== undefined) headers.allow = error.allow;
  if (error instanceof RateLimited) headers['retry-after'] = String(error.retryAfter);
  // A not-found namespace's hint from the vault may name other namespaces: never shown here.
  const hint =
    error.code === 'ERR_NAMESPACE_NOT_FOUND' && !(error instanceof NotAMember) ? undefined : error.hint;
  return {
    status,
    headers,
    body: { error: { code: error.code, message: error.message, ...(hint === undefined ? {} : { hint }) } },
  };
}

function outcomeOf(error: unknown): string {
  if (error instanceof RequestRefused) return `refused:${error.status}`;
  return isEggError(error) ? error.code.replace(/^ERR_/, '').toLowerCase().replaceAll('_', '-') : 'error';
}

/** `store`, counting the audit records appended through it. */
function recordingStore(store: SecretStore): { store: SecretStore; appended: () => number } {
  let appended = 0;
  const wrapped = new Proxy(store, {
    get(target, property) {
      if (property === 'appendAudit')
        return async (namespace: string, build: (head: AuditRecord | undefined) => AuditRecord) => {
          const written = await target.appendAudit(namespace, build);
          appended++;
          return written;
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, appended: () => appended };
}
