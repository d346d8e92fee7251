/**
 * The API's routes, and the one parse of a request's path and query into a route, its
 * namespace and its secret name. The namespace travels as one path segment with its `/`s as
 * `%2F` (as GitLab's API names projects), and that is the only escape decoded: any other `%`,
 * an empty segment, a dot segment or a name that is not exactly a namespace (lowercase, no
 * folding) is refused. The namespace the membership check sees is the one the handler uses;
 * nothing decodes the path again.
 */
import { EggError } from '../errors.js';
import { assertNamespace, assertSecretName } from '../names.js';
import type { MemberRole } from '../stores/store.js';

export type RouteName =
  | 'namespaces.list'
  | 'namespaces.create'
  | 'secrets.list'
  | 'secrets.get'
  | 'secrets.set'
  | 'secrets.rm'
  | 'secrets.pull'
  | 'secrets.history'
  | 'secrets.rollback'
  | 'secrets.import'
  | 'secrets.kept'
  | 'secrets.keep'
  | 'secrets.sealing-key'
  | 'secrets.seal'
  | 'tokens.list'
  | 'tokens.mint'
  | 'tokens.revoke'
  | 'tokens.rotate'
  | 'tokens.killswitch'
  | 'tokens.usage'
  | 'tokens.unthrottle'
  | 'audit.list'
  | 'audit.verify'
  | 'members.list'
  | 'members.add'
  | 'members.rm'
  | 'alerts.list'
  | 'alerts.add'
  | 'alerts.rm'
  | 'alerts.test'
  | 'alerts.rules'
  | 'alerts.rules.set'
  | 'audit.checkpoint';

/** A parsed request: what to run, on which namespace and secret, and the role it needs there. */
export interface Route {
  name: RouteName;
  /** Absent for `namespaces.list`. */
  namespace?: string;
  secret?: string;
  /** The least role the caller needs in `namespace`; undefined where no membership is needed. */
  role?: MemberRole;
  /** The query's parameters (only those the route takes, each once). */
  query: Record<string, string>;
}

/** A request refused before any handler: its HTTP status and, for 405, what is allowed. */
export class RequestRefused extends EggError {
  readonly status: number;
  readonly allow: string | undefined;
  constructor(status: number, message: string, allow?: string) {
    super('ERR_USAGE', message);
    this.name = 'RequestRefused';
    this.status = status;
    this.allow = allow;
  }
}

interface RouteSpec {
  /** The path after `/v1/namespaces/{ns}`: `''`, `secrets`, `secrets/*` (`*`: a name), `secrets/*` + `/history`, `tokens/revoke`, … */
  tail: string;
  method: string;
  name: RouteName;
  role?: MemberRole;
  query?: readonly string[];
}

const ROUTES: readonly RouteSpec[] = [
  { tail: '', method: 'PUT', name: 'namespaces.create' },
  { tail: 'secrets', method: 'GET', name: 'secrets.list', role: 'read' },
  { tail: 'secrets/*', method: 'GET', name: 'secrets.get', role: 'read', query: ['rev'] },
  { tail: 'secrets/*', method: 'PUT', name: 'secrets.set', role: 'write' },
  { tail: 'secrets/*', method: 'DELETE', name: 'secrets.rm', role: 'write' },
  { tail: 'secrets/*/history', method: 'GET', name: 'secrets.history', role: 'read' },
  // The lifecycle (docs/service.md). No PUT on a one-segment tail: once a gateway has decoded
  // the namespace's %2F, `PUT …/acme/keep` could also be the creation of namespace acme/keep.
  { tail: 'secrets/*/rollback', method: 'POST', name: 'secrets.rollback', role: 'write' },
  { tail: 'import', method: 'POST', name: 'secrets.import', role: 'write' },
  { tail: 'keep', method: 'GET', name: 'secrets.kept', role: 'read' },
  // How much every member can recover, for every secret: the namespace's policy, as its members are.
  { tail: 'keep', method: 'POST', name: 'secrets.keep', role: 'admin' },
  // The public key is the same for every namespace, but shown only to a member, as all else.
  { tail: 'sealing-key', method: 'GET', name: 'secrets.sealing-key', role: 'read' },
  { tail: 'secrets/*/seal', method: 'POST', name: 'secrets.seal', role: 'write' },
  { tail: 'pull', method: 'POST', name: 'secrets.pull', role: 'read' },
  { tail: 'tokens', method: 'GET', name: 'tokens.list', role: 'read' },
  { tail: 'tokens', method: 'POST', name: 'tokens.mint', role: 'write' },
  { tail: 'tokens/revoke', method: 'POST', name: 'tokens.revoke', role: 'write' },
  { tail: 'tokens/rotate', method: 'POST', name: 'tokens.rotate', role: 'write' },
  { tail: 'tokens/killswitch', method: 'POST', name: 'tokens.killswitch', role: 'admin' },
  { tail: 'tokens/usage', method: 'GET', name: 'tokens.usage', role: 'read', query: ['ids', 'since'] },
  { tail: 'tokens/unthrottle', method: 'POST', name: 'tokens.unthrottle', role: 'write' },
  { tail: 'audit', method: 'GET', name: 'audit.list', role: 'read', query: ['after'] },
  { tail: 'audit/verify', method: 'GET', name: 'audit.verify', role: 'read' },
  { tail: 'members', method: 'GET', name: 'members.list', role: 'read' },
  { tail: 'members', method: 'POST', name: 'members.add', role: 'admin' },
  { tail: 'members/remove', method: 'POST', name: 'members.rm', role: 'admin' },
  // Alerts and anomaly rules: read to see them, admin to change them (as members: where a
  // namespace's alerts go is the owner's call). Sending a test alert changes nothing, but it
  // posts to every channel and records an alert, so it is an admin's too.
  { tail: 'alerts', method: 'GET', name: 'alerts.list', role: 'read', query: ['limit'] },
  { tail: 'alerts', method: 'POST', name: 'alerts.add', role: 'admin' },
  { tail: 'alerts/remove', method: 'POST', name: 'alerts.rm', role: 'admin' },
  { tail: 'alerts/test', method: 'POST', name: 'alerts.test', role: 'admin' },
  { tail: 'alerts/rules', method: 'GET', name: 'alerts.rules', role: 'read' },
  { tail: 'alerts/rules', method: 'POST', name: 'alerts.rules.set', role: 'admin' },
  // A checkpoint adds a signed record of the head and changes no secret, member or setting;
  // but it appends to the trail and has the server sign with its anchor key, which a reader
  // should not be able to make it do at will: write, the role that appends already.
  { tail: 'audit/checkpoint', method: 'POST', name: 'audit.checkpoint', role: 'write' },
];

/**
 * The largest body accepted: a 64 KiB value in base64 and its JSON, with room to spare. Here,
 * with the routes, so the client (remote.ts) can refuse a larger one before sending it.
 */
export const MAX_BODY_BYTES = 128 * 1024;

const PREFIX = '/v1/namespaces';
/** infra/service.ts serves the same routes under this prefix for GitHub Actions' tokens (their own authorizer). */
export const CI_PATH_PREFIX = '/ci';
/** The path every namespace route sits under; `GET` on it lists the caller's namespaces. */
export const NAMESPACES_PATH = PREFIX;
/** The methods of the routes under `/v1/namespaces/{ns}` (infra/service.ts routes exactly these). */
export const NAMESPACE_METHODS: readonly string[] = [...new Set(ROUTES.map((spec) => spec.method))].sort();
const NAMESPACE_SEGMENT = /^(?:[a-z0-9._-]|%2[Ff])+$/;
/** What may follow `secrets/NAME/`: `history`, `rollback`, `seal`. */
const SECRET_ACTIONS: ReadonlySet<string> = new Set(
  ROUTES.filter((spec) => spec.tail.startsWith('secrets/*/')).map(
    (spec) => spec.tail.split('/')[2] as string,
  ),
);

/**
 * The route of `method` on `path` (raw, as sent, without the query) with `query` (raw):
 * `RequestRefused` (404, 405, 400) when there is none, `ERR_INVALID_NAMESPACE` or
 * `ERR_INVALID_NAME` (400) for a name that is not one.
 * @example
 * parseRoute('GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY', '')
 * // { name: 'secrets.get', namespace: 'acme/web', secret: 'API_KEY', role: 'read', query: {} }
 */
export function parseRoute(method: string, path: string, query: string): Route {
  if (path === PREFIX) return only('GET', method, { name: 'namespaces.list', query: parseQuery(query, []) });
  if (!path.startsWith(`${PREFIX}/`)) throw notFound();
  const [encoded = '', ...rest] = path.slice(PREFIX.length + 1).split('/');
  if (!NAMESPACE_SEGMENT.test(encoded)) {
    if (encoded.includes('%'))
      throw new RequestRefused(400, 'the namespace in the path may escape only "/" (as %2F)');
    throw new EggError('ERR_INVALID_NAMESPACE', `invalid namespace ${JSON.stringify(encoded.slice(0, 80))}`);
  }
  const namespace = encoded.replace(/%2F/gi, '/');
  assertNamespace(namespace);
  // `secrets/NAME` and `secrets/NAME/history` (…`/rollback`, …`/seal`): the name is the one segment after `secrets`.
  const named =
    rest[0] === 'secrets' &&
    (rest.length === 2 || (rest.length === 3 && SECRET_ACTIONS.has(rest[2] as string)));
  const secret = named ? rest[1] : undefined;
  const tail = secret === undefined ? rest.join('/') : ['secrets', '*', ...rest.slice(2)].join('/');
  const specs = ROUTES.filter((spec) => spec.tail === tail);
  if (specs.length === 0) throw notFound();
  const spec = specs.find((s) => s.method === method);
  if (spec === undefined)
    throw new RequestRefused(405, `${method} is not allowed here`, specs.map((s) => s.method).join(', '));
  if (secret !== undefined) assertSecretName(secret);
  return {
    name: spec.name,
    namespace,
    ...(secret === undefined ? {} : { secret }),
    ...(spec.role === undefined ? {} : { role: spec.role }),
    query: parseQuery(query, spec.query ?? []),
  };
}

function only(allowed: string, method: string, route: Route): Route {
  if (method !== allowed) throw new RequestRefused(405, `${method} is not allowed here`, allowed);
  return route;
}

function notFound(): RequestRefused {
  return new RequestRefused(404, 'no such resource');
}

/** The query's parameters: each one the route takes, at most once, and no other. */
function parseQuery(query: string, allowed: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  if (query === '') return params;
  for (const pair of query.split('&')) {
    const [key = '', value = ''] = pair.split('=', 2);
    if (!allowed.includes(key))
      throw new RequestRefused(400, `unknown query parameter ${JSON.stringify(key.slice(0, 40))}`);
    if (Object.hasOwn(params, key))
      throw new RequestRefused(400, `the query parameter ${key} is given twice`);
    params[key] = value;
  }
  return params;
}

/**
 * `parseRoute` for a path a gateway has already percent-decoded, as API Gateway HTTP APIs
 * do to `rawPath` (docs/service.md, "The path through API Gateway"): `acme%2Fweb` arrives as
 * `acme/web`, so where the namespace ends is no longer written. Every split of the segments
 * into a namespace and a tail is tried; exactly one may parse, else the request is refused
 * (400) rather than guessed, so no request is ever read as another namespace's. A path
 * still holding a `%` was not decoded (or carried a `%25`): it is parsed as sent.
 * @example
 * parseDecodedRoute('GET', '/v1/namespaces/acme/web/secrets/API_KEY', '')
 * // { name: 'secrets.get', namespace: 'acme/web', secret: 'API_KEY', role: 'read', query: {} }
 */
export function parseDecodedRoute(method: string, path: string, query: string): Route {
  if (path.includes('%') || !path.startsWith(`${PREFIX}/`)) return parseRoute(method, path, query);
  const segments = path.slice(PREFIX.length + 1).split('/');
  const parsed: Route[] = [];
  let first: unknown;
  for (let cut = 1; cut <= segments.length; cut++) {
    const tail = segments.slice(cut);
    const candidate = `${PREFIX}/${segments.slice(0, cut).join('%2F')}${tail.length === 0 ? '' : `/${tail.join('/')}`}`;
    try {
      parsed.push(parseRoute(method, candidate, query));
    } catch (error) {
      first ??= error;
    }
  }
  if (parsed.length === 1) return parsed[0] as Route;
  if (parsed.length > 1)
    throw new RequestRefused(
      400,
      `the path could name namespace ${parsed.map((r) => r.namespace).join(' or ')} once the gateway has decoded its %2F: refused rather than guessed`,
    );
  throw first;
}
