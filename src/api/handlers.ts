/**
 * The API's handlers: plain functions over the library (the vault, tokens, the audit trail,
 * the members), each taking the context, the verified caller with its checked membership, and
 * the parsed request, and returning `{status, body}`. None of them checks a token or a
 * membership: api.ts has done both before it calls one, and a handler of a namespace route
 * is handed the membership it found. Each acts as the caller's principal, so the library's
 * own audit records name the caller.
 */
import { isIP } from 'node:net';
import type { Backend } from '../backends/backend.js';
import type { WebhookShape } from '../alerts/alerts.js';
import { alertsOn, anchorOn, tokensOn, usageOn } from '../backends/open-backend.js';
import { putSealedProviderKey, sealingPublicKey } from '../backends/sealed-keys.js';
import type { RotationStrategy } from '../config.js';
import { wipe } from '../crypto/wipe.js';
import { EggError } from '../errors.js';
import { parseExpiry } from '../expiry.js';
import { type Logger, nullLogger } from '../log.js';
import { AnomalyRuleSettings, assertRuleTarget, parseSettings } from '../proxy/rule-settings.js';
import { readAnchorKey } from '../rotator/anchor-key.js';
import {
  MEMBER_ROLES,
  type MemberRecord,
  type MemberRole,
  type MemberStore,
  type SecretStore,
} from '../stores/store.js';
import type { MintInput } from '../tokens/tokens.js';
import { USAGE_KEEP_SECONDS } from '../tokens/usage-store.js';
import { chainRecord } from '../vault/audit.js';
import { type PulledSecret, Vault } from '../vault/vault.js';
import { type Caller, GITHUB_ISSUER, isUsableSubject, principalOf } from './principal.js';
import type { Route, RouteName } from './routes.js';

/** What every handler may use: the backend the API opened (its store is also the member store). */
export interface ApiContext {
  backend: Backend;
  members: MemberStore;
  rotation: RotationStrategy;
  /** The issuers the API trusts: a member is named by one of them and a subject. */
  issuers: readonly string[];
  logger?: Logger;
  clock?: () => Date;
}

/** One call, checked: the caller, its route, its membership of the route's namespace, its body. */
export interface Call {
  caller: Caller;
  route: Route;
  /** The caller's membership of `route.namespace`: present on every route that needs one. */
  member: MemberRecord | undefined;
  /** The parsed JSON body, or undefined when there was none. */
  body: unknown;
  /** The store this call uses (api.ts counts the audit records written through it). */
  store: SecretStore;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type Handler = (context: ApiContext, call: Call) => Promise<ApiResponse>;

const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

function namespaceOf(call: Call): string {
  if (call.route.namespace === undefined) throw new TypeError(`${call.route.name} has no namespace`);
  return call.route.namespace;
}

function vaultFor(context: ApiContext, call: Call): Vault {
  return new Vault({
    store: call.store,
    keyring: context.backend.keyring,
    sealing: context.backend.sealing,
    namespace: namespaceOf(call),
    actor: call.caller.principal,
    logger: context.logger ?? nullLogger,
    rotation: context.rotation,
    ...(context.clock === undefined ? {} : { clock: context.clock }),
  });
}

/** The backend as the caller: its store the call's (counted), its actor the caller's principal. */
function backendFor(context: ApiContext, call: Call): Backend {
  return { ...context.backend, store: call.store, actor: call.caller.principal };
}

function tokensFor(context: ApiContext, call: Call) {
  return tokensOn(backendFor(context, call), namespaceOf(call));
}

/**
 * Refuse a webhook the server would post to itself or its private network (SSRF): any member
 * may be an admin of a namespace it made, and the server, not the member, sends the alerts.
 * Only a literal address or `localhost` is judged here; a name is sent to as resolved.
 */
function assertOutsideServer(raw: string): void {
  let host: string;
  try {
    host = new URL(raw).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return; // Not a URL: Alerts.addWebhook refuses it, saying so.
  }
  const v4 = isIP(host) === 4 ? host.split('.').map(Number) : undefined;
  const [a = -1, b = -1] = v4 ?? [];
  const internal =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    (v4 !== undefined &&
      (a === 0 ||
        a === 10 ||
        a === 127 ||
        (a === 100 && b >= 64 && b < 128) ||
        (a === 169 && b === 254) ||
        (a === 172 && b >= 16 && b < 32) ||
        (a === 192 && b === 168))) ||
    (isIP(host) === 6 && /^(?:::1?$|::ffff:|f[cd]|fe[89ab])/.test(host));
  if (internal)
    throw new EggError('ERR_USAGE', 'the API does not post alerts to its own host or a private address', {
      hint: 'give the public https:// URL of the receiver',
    });
}

/** The namespace's alerts, acting as the caller, recorded through the call's store. */
function alertsFor(context: ApiContext, call: Call) {
  return alertsOn({ ...context.backend, store: call.store, actor: call.caller.principal }, context.logger);
}

/** The namespace's anomaly rule settings, changed as the caller. */
async function ruleSettingsFor(context: ApiContext, call: Call): Promise<AnomalyRuleSettings> {
  return new AnomalyRuleSettings({
    store: await usageOn(context.backend),
    audit: call.store,
    actor: call.caller.principal,
  });
}

/** Record an action of a handler whose library call records none (members, namespaces, audit reads). */
async function record(context: ApiContext, call: Call, action: string, targets: string[]): Promise<void> {
  const namespace = namespaceOf(call);
  const time = (context.clock ?? (() => new Date()))();
  await call.store.appendAudit(namespace, (head) =>
    chainRecord(namespace, head, { action, targets, actor: call.caller.principal, outcome: 'ok' }, time),
  );
}

/** A pulled secret as JSON: its value in base64, the buffer wiped. */
function secretJson(secret: PulledSecret): Record<string, unknown> {
  const { value, ...meta } = secret;
  const json = { ...meta, value: value.toString('base64') };
  wipe(value);
  return json;
}

// Body fields: each checked, each refusal naming the field.

function bodyObject(call: Call): Record<string, unknown> {
  const { body } = call;
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new EggError('ERR_USAGE', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function field<T>(
  body: Record<string, unknown>,
  name: string,
  check: (value: unknown) => value is T,
  expected: string,
): T | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!check(value)) throw new EggError('ERR_USAGE', `"${name}" must be ${expected}`);
  return value;
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new EggError('ERR_USAGE', `the request body needs "${name}"`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);
const isNumbers = (value: unknown): value is Record<string, number> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((v) => typeof v === 'number' && Number.isFinite(v));
const isTags = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every(isString);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const isBase64 = (value: unknown): value is string => typeof value === 'string' && BASE64.test(value);
const isRev = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1;
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
/** An import's entries: `[{name, value}]`, each value in base64 (names are checked by the vault). */
const isEntries = (value: unknown): value is { name: string; value: string }[] =>
  Array.isArray(value) &&
  value.every(
    (entry) =>
      isObject(entry) && Object.keys(entry).length === 2 && isString(entry.name) && isBase64(entry.value),
  );

/** A member as named in a body: `{issuer?, subject}`, the issuer one the API trusts (the caller's by default). */
function memberPrincipal(context: ApiContext, call: Call, body: Record<string, unknown>): string {
  const given = field(body, 'issuer', isString, 'an issuer URL, or "github"');
  const issuer = given === 'github' ? GITHUB_ISSUER : (given ?? call.caller.iss);
  if (!context.issuers.includes(issuer))
    throw new EggError(
      'ERR_USAGE',
      `${JSON.stringify(issuer.slice(0, 80))} is not an issuer this API trusts`,
      {
        hint: `use one of ${context.issuers.join(', ')}`,
      },
    );
  const subject = required(field(body, 'subject', isString, 'the member’s "sub"'), 'subject');
  const principal = principalOf(issuer, subject);
  if (!isUsableSubject(issuer, subject))
    throw new EggError(
      'ERR_USAGE',
      '"subject" must be a "sub" claim: not empty, no control characters, at most 800 bytes',
    );
  return principal;
}

function memberJson(member: MemberRecord) {
  const cut = member.principal.indexOf('|');
  return {
    issuer: member.principal.slice(0, cut),
    subject: member.principal.slice(cut + 1),
    role: member.role,
    addedBy: member.addedBy,
    addedAt: member.addedAt,
  };
}

/** Every handler, by route. */
export const handlers: Readonly<Record<RouteName, Handler>> = {
  'namespaces.list': async (context, call) => {
    const found = new Map<string, MemberRole>();
    const lists = await Promise.all(
      call.caller.aliases.map((alias) => context.members.listMemberships(alias)),
    );
    for (const membership of lists.flat()) {
      const held = found.get(membership.namespace);
      if (held === undefined || MEMBER_ROLES.indexOf(membership.role) > MEMBER_ROLES.indexOf(held))
        found.set(membership.namespace, membership.role);
    }
    const namespaces = [...found]
      .map(([namespace, role]) => ({ namespace, role }))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
    return ok({ namespaces });
  },

  /**
   * The first writer claims a namespace and owns it. One that exists already, owned or made
   * in the direct mode, is refused alike: whether a name is taken is what anyone learns by
   * trying to take it, and never more.
   */
  'namespaces.create': async (context, call) => {
    const namespace = namespaceOf(call);
    const taken = () =>
      new EggError('ERR_CONFLICT', `namespace ${namespace} is taken`, {
        hint: 'choose another name, or ask its owner to add you',
      });
    if (call.member !== undefined) throw taken();
    if (await context.backend.store.hasNamespace(namespace)) throw taken();
    const addedAt = (context.clock ?? (() => new Date()))().toISOString();
    const owner: MemberRecord = {
      namespace,
      principal: call.caller.principal,
      role: 'owner',
      addedBy: call.caller.principal,
      addedAt,
    };
    if (!(await context.members.claimNamespace(owner))) throw taken();
    await call.store.markNamespace(namespace);
    await record(context, call, 'namespace.create', []);
    return ok({ namespace, role: 'owner' }, 201);
  },

  'secrets.list': async (context, call) => ok({ secrets: await vaultFor(context, call).list() }),

  'secrets.get': async (context, call) => {
    const name = call.route.secret as string;
    const { rev } = call.route.query;
    if (rev !== undefined && !/^[1-9][0-9]{0,11}$/.test(rev))
      throw new EggError('ERR_USAGE', '"rev" must be a revision number');
    const vault = vaultFor(context, call);
    const secret = rev === undefined ? await vault.get(name) : await vault.getVersion(name, Number(rev));
    return ok(secretJson(secret));
  },

  'secrets.history': async (context, call) =>
    ok({ versions: await vaultFor(context, call).history(call.route.secret as string) }),

  'secrets.rollback': async (context, call) => {
    const rev = required(field(bodyObject(call), 'rev', isRev, 'a revision number'), 'rev');
    return ok(await vaultFor(context, call).rollback(call.route.secret as string, rev));
  },

  /** Every entry or none, in one request (the client refuses one larger than the body limit). */
  'secrets.import': async (context, call) => {
    const body = bodyObject(call);
    const given = required(
      field(body, 'secrets', isEntries, 'a list of {"name", "value"}, each value in base64'),
      'secrets',
    );
    const dryRun = field(body, 'dryRun', isBoolean, 'true or false') ?? false;
    const entries = given.map(({ name, value }) => ({ name, value: Buffer.from(value, 'base64') }));
    try {
      return ok(await vaultFor(context, call).import(entries, { dryRun }));
    } finally {
      for (const entry of entries) wipe(entry.value);
    }
  },

  'secrets.kept': async (context, call) => ok({ versionsKept: await vaultFor(context, call).versionsKept() }),

  'secrets.keep': async (context, call) => {
    const count = required(field(bodyObject(call), 'count', isCount, 'a whole number'), 'count');
    const vault = vaultFor(context, call);
    await vault.setVersionsKept(count);
    return ok({ versionsKept: await vault.versionsKept() });
  },

  'secrets.sealing-key': async (context, call) => {
    const { kid, spki } = await sealingPublicKey(context.backend, namespaceOf(call));
    return ok({ kid, spki });
  },

  /** A blob sealed on the caller's side, stored as it came: the API never holds the key's plaintext. */
  'secrets.seal': async (context, call) => {
    const body = bodyObject(call);
    const inject = field(body, 'inject', isString, 'a header template');
    const meta = await putSealedProviderKey(backendFor(context, call), {
      namespace: namespaceOf(call),
      name: call.route.secret as string,
      sealed: required(body.sealed, 'sealed'),
      upstream: required(field(body, 'upstream', isString, 'an https origin'), 'upstream'),
      ...(inject === undefined ? {} : { inject }),
    });
    return ok(meta);
  },

  'secrets.set': async (context, call) => {
    const body = bodyObject(call);
    const encoded = required(field(body, 'value', isBase64, 'the value in base64'), 'value');
    const upstream = field(body, 'upstream', isString, 'an https origin');
    const inject = field(body, 'inject', isString, 'a header template');
    const until = field(body, 'expires', isString, 'a time (ISO 8601) or a duration');
    const clock = context.clock ?? (() => new Date());
    const expires = until === undefined ? undefined : parseExpiry(until, clock(), '"expires"');
    const value = Buffer.from(encoded, 'base64');
    try {
      const meta = await vaultFor(context, call).set(call.route.secret as string, value, {
        ...(upstream === undefined ? {} : { upstream }),
        ...(inject === undefined ? {} : { inject }),
        ...(expires === undefined ? {} : { expires }),
      });
      return ok(meta);
    } finally {
      wipe(value);
    }
  },

  'secrets.rm': async (context, call) => {
    await vaultFor(context, call).remove(call.route.secret as string);
    return ok({ removed: call.route.secret });
  },

  'secrets.pull': async (context, call) => {
    const body = bodyObject(call);
    const names = field(body, 'names', isStrings, 'a list of secret names');
    const allowMissing = field(body, 'allowMissing', isBoolean, 'true or false');
    const result = await vaultFor(context, call).pull(
      names,
      allowMissing === undefined ? {} : { allowMissing },
    );
    return ok({
      secrets: result.secrets.map(secretJson),
      missing: result.missing,
      rotation: result.rotation,
      // The read's own record (names, hashes, no value): the head of the trail this caller saw.
      audit: result.audit,
    });
  },

  'tokens.list': async (context, call) => {
    const tokens = await (await tokensFor(context, call)).list();
    await record(context, call, 'token.list', []);
    return ok({ tokens });
  },

  'tokens.mint': async (context, call) => {
    const body = bodyObject(call);
    const input: MintInput = {
      key: required(field(body, 'key', isString, 'a secret name'), 'key'),
      origins: field(body, 'origins', isStrings, 'a list of origins') ?? [],
      ttlSeconds: required(field(body, 'ttlSeconds', isCount, 'a whole number of seconds'), 'ttlSeconds'),
      rps: required(field(body, 'rps', isCount, 'a whole number'), 'rps'),
      spend: required(field(body, 'spend', isCount, 'a whole number'), 'spend'),
    };
    const allowNoOrigin = field(body, 'allowNoOrigin', isBoolean, 'true or false');
    const burst = field(body, 'burst', isCount, 'a whole number');
    const cost = field(body, 'cost', isCount, 'a whole number');
    const tags = field(body, 'tags', isTags, 'an object of strings');
    if (allowNoOrigin !== undefined) input.allowNoOrigin = allowNoOrigin;
    if (burst !== undefined) input.burst = burst;
    if (cost !== undefined) input.cost = cost;
    if (tags !== undefined) input.tags = tags;
    const minted = await (await tokensFor(context, call)).mint(input);
    return ok(
      { token: minted.token, id: minted.id, expiresAt: minted.expiresAt, claims: minted.claims },
      201,
    );
  },

  'tokens.rotate': async (context, call) => {
    const body = bodyObject(call);
    const id = required(field(body, 'id', isString, 'a token id'), 'id');
    const grace = required(field(body, 'graceSeconds', isCount, 'a whole number of seconds'), 'graceSeconds');
    return ok(await (await tokensFor(context, call)).rotate(id, grace), 201);
  },

  'tokens.killswitch': async (context, call) => ok(await (await tokensFor(context, call)).killSwitch()),

  'tokens.usage': async (context, call) => {
    const { ids, since } = call.route.query;
    if (since === undefined || !/^[1-9][0-9]{0,5}$/.test(since) || Number(since) > USAGE_KEEP_SECONDS)
      throw new EggError('ERR_USAGE', `"since" must be a number of seconds from 1 to ${USAGE_KEEP_SECONDS}`);
    const list = ids === undefined || ids === '' ? [] : ids.split(',');
    return ok(await (await tokensFor(context, call)).usage(list, Number(since)));
  },

  'tokens.unthrottle': async (context, call) => {
    const ids = required(field(bodyObject(call), 'ids', isStrings, 'a list of token ids'), 'ids');
    if (ids.length === 0) throw new EggError('ERR_USAGE', 'say which tokens to unthrottle: "ids"');
    return ok({ lifted: await (await tokensFor(context, call)).unthrottle(ids) });
  },

  'tokens.revoke': async (context, call) => {
    const body = bodyObject(call);
    const ids = field(body, 'ids', isStrings, 'a list of token ids') ?? [];
    const tags = field(body, 'tags', isTags, 'an object of strings') ?? {};
    if (ids.length === 0 && Object.keys(tags).length === 0)
      throw new EggError('ERR_USAGE', 'say which tokens to revoke: "ids", "tags" or both');
    return ok(await (await tokensFor(context, call)).revoke(ids, tags));
  },

  'audit.list': async (context, call) => {
    const after = call.route.query.after;
    if (after !== undefined && !/^[0-9]{1,12}$/.test(after))
      throw new EggError('ERR_USAGE', '"after" must be a record number');
    const records = await vaultFor(context, call).auditTrail(
      after === undefined ? {} : { afterSeq: Number(after) },
    );
    await record(context, call, 'audit.read', []);
    return ok({ records });
  },

  'audit.verify': async (context, call) => {
    const verdict = await vaultFor(context, call).verifyAudit({
      anchorKey: () => readAnchorKey(context.backend),
    });
    await record(context, call, 'audit.verify', []);
    return ok(verdict);
  },

  'alerts.list': async (context, call) => {
    const { limit } = call.route.query;
    if (limit !== undefined && !/^[1-9][0-9]{0,2}$|^1000$/.test(limit))
      throw new EggError('ERR_USAGE', '"limit" must be a whole number from 1 to 1000');
    const listed = await (
      await alertsFor(context, call)
    ).list(namespaceOf(call), limit === undefined ? 20 : Number(limit));
    await record(context, call, 'alert.list', []);
    return ok(listed);
  },

  /**
   * A webhook comes with the secret the client made (remote.ts): it is sealed, and the answer
   * names the channel only, so the secret is never sent back. SNS and EventBridge channels
   * need an API on the aws backend.
   */
  'alerts.add': async (context, call) => {
    const body = bodyObject(call);
    const webhook = field(body, 'webhook', isString, 'an https URL');
    const snsTopic = field(body, 'snsTopic', isString, 'an SNS topic ARN');
    const eventBridge = field(body, 'eventBridge', isBoolean, 'true or false') === true;
    if ([webhook !== undefined, snsTopic !== undefined, eventBridge].filter(Boolean).length !== 1)
      throw new EggError(
        'ERR_USAGE',
        'say where alerts go: exactly one of "webhook", "snsTopic" or "eventBridge"',
      );
    const alerts = await alertsFor(context, call);
    const namespace = namespaceOf(call);
    if (webhook === undefined) {
      const bus = field(body, 'eventBus', isString, 'an event bus name or ARN');
      const channel =
        snsTopic === undefined
          ? await alerts.addEventBus(namespace, bus)
          : await alerts.addSnsTopic(namespace, snsTopic);
      return ok(channel, 201);
    }
    assertOutsideServer(webhook);
    const shape = field(
      body,
      'shape',
      (v): v is WebhookShape => v === 'json' || v === 'slack',
      '"json" or "slack"',
    );
    const given = required(
      field(body, 'secret', isString, 'a webhook secret ("whsec_" and 43 base64url characters)'),
      'secret',
    );
    const secret = Buffer.from(given);
    try {
      const { id, kind, url } = await alerts.addWebhook(namespace, webhook, shape ?? 'json', secret);
      return ok({ id, kind, url }, 201);
    } finally {
      wipe(secret);
      body.secret = '';
    }
  },

  'alerts.rm': async (context, call) => {
    const id = required(field(bodyObject(call), 'id', isString, 'a channel id'), 'id');
    return ok(await (await alertsFor(context, call)).removeChannel(namespaceOf(call), id));
  },

  'alerts.test': async (context, call) =>
    ok({ results: await (await alertsFor(context, call)).test(namespaceOf(call)) }),

  'alerts.rules': async (context, call) => {
    const rules = await (await ruleSettingsFor(context, call)).list(namespaceOf(call));
    await record(context, call, 'alert.rules.list', []);
    return ok({ rules });
  },

  'alerts.rules.set': async (context, call) => {
    const body = bodyObject(call);
    const target = assertRuleTarget(required(field(body, 'rule', isString, 'a rule name'), 'rule'));
    const state = field(
      body,
      'state',
      (v): v is 'on' | 'off' | 'reset' => v === 'on' || v === 'off' || v === 'reset',
      '"on", "off" or "reset"',
    );
    const given = field(body, 'settings', isNumbers, 'an object of numbers') ?? {};
    // The command line's own check of each setting: its name, range and kind.
    const settings = parseSettings(
      target,
      Object.entries(given).map(([name, value]) => `${name}=${value}`),
    );
    if (state === undefined && Object.keys(settings).length === 0)
      throw new EggError('ERR_USAGE', `say what to change in ${target}: "state" or "settings"`);
    if (state === 'reset' && Object.keys(settings).length > 0)
      throw new EggError(
        'ERR_USAGE',
        '"reset" puts every setting back to its default, so it takes no "settings"',
      );
    const rules = await (
      await ruleSettingsFor(context, call)
    ).change(namespaceOf(call), target, {
      ...(state === undefined ? {} : { state }),
      settings,
    });
    return ok({ rules });
  },

  /** Signed with the server's own anchor key (EGG_HOME/anchor-key, or its EGG_ANCHOR_KEY_ID). */
  'audit.checkpoint': async (context, call) => {
    const vault = vaultFor(context, call);
    const signer = await anchorOn(
      context.backend,
      vault,
      'the API’s operator sets its anchor key (EGG_ANCHOR_KEY_ID on aws)',
    );
    const result = await vault.checkpoint(signer);
    await record(
      context,
      call,
      'audit.checkpoint',
      result === undefined ? [] : [String(result.checkpoint.seq)],
    );
    if (result === undefined) return ok({ created: false, empty: true });
    return ok({ ...result.checkpoint, created: result.created });
  },

  'members.list': async (context, call) => {
    const members = await context.members.listMembers(namespaceOf(call));
    await record(context, call, 'member.list', []);
    return ok({ members: members.map(memberJson) });
  },

  'members.add': async (context, call) => {
    const body = bodyObject(call);
    const principal = memberPrincipal(context, call, body);
    const role = required(
      field(
        body,
        'role',
        (v): v is MemberRole => v === 'read' || v === 'write' || v === 'admin',
        '"read", "write" or "admin"',
      ),
      'role',
    );
    const namespace = namespaceOf(call);
    const current = (await context.members.listMembers(namespace)).find((m) => m.principal === principal);
    if (current?.role === 'owner')
      throw new EggError('ERR_CONFLICT', 'the owner’s role cannot change', {
        hint: 'the owner stays an admin of its namespace',
      });
    const member: MemberRecord = {
      namespace,
      principal,
      role,
      addedBy: call.caller.principal,
      addedAt: (context.clock ?? (() => new Date()))().toISOString(),
    };
    await context.members.putMember(member);
    await record(context, call, 'member.add', [`${principal} ${role}`]);
    return ok(memberJson(member));
  },

  'members.rm': async (context, call) => {
    const principal = memberPrincipal(context, call, bodyObject(call));
    const namespace = namespaceOf(call);
    const current = (await context.members.listMembers(namespace)).find((m) => m.principal === principal);
    if (current?.role === 'owner') throw new EggError('ERR_CONFLICT', 'the owner cannot be removed');
    if (current === undefined || !(await context.members.deleteMember(namespace, principal)))
      throw new EggError('ERR_USAGE', 'no such member', { hint: 'see the members with `egg members list`' });
    await record(context, call, 'member.remove', [principal]);
    return ok({ removed: memberJson(current) });
  },
};
