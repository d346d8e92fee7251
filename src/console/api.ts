/**
 * What the console's page may ask for, as plain methods over the library objects the CLI uses
 * (one namespace's `Tokens`, `Vault` and usage store): tokens with their recent usage, mint,
 * revoke, the kill switch (only with the namespace typed back), provider keys (names and
 * metadata, never values), the audit trail with filters, its verification and its export.
 * Request bodies arrive as parsed JSON of unknown shape and are checked here, field by field.
 */
import type { BackendKind } from '../config.js';
import type { SealingPublicKey } from '../crypto/seal.js';
import { EggError } from '../errors.js';
import type { AuditRecord } from '../stores/store.js';
import { parseDuration, parseTags } from '../tokens/claims.js';
import type { TokenListEntry, Tokens } from '../tokens/tokens.js';
import {
  emptyCounts,
  sumUsage,
  throttleShown,
  type Throttle,
  type UsageCounts,
  type UsageStore,
  USAGE_WINDOW_SECONDS,
} from '../tokens/usage-store.js';
import type { TrailVerdict } from '../vault/anchor.js';
import type { SecretMeta, Vault } from '../vault/vault.js';

/** How far back the token list's charts go: 30 windows of a minute. */
export const USAGE_SPAN_SECONDS = 30 * USAGE_WINDOW_SECONDS;

export interface ConsoleApiOptions {
  namespace: string;
  backend: BackendKind;
  actor: string;
  tokens: Tokens;
  vault: Vault;
  /** Undefined where the token store keeps no usage (both SQLite and DynamoDB keep it). */
  usage: UsageStore | undefined;
  verifyAudit: () => Promise<TrailVerdict>;
  /** Sealed provider keys (backends/sealed-keys.ts), bound to the namespace. */
  sealing?: {
    publicKey(): Promise<SealingPublicKey>;
    put(input: { name: string; sealed: unknown; upstream: string; inject?: string }): Promise<SecretMeta>;
  };
  clock?: () => number;
}

/** One window of a token's chart. */
export interface UsagePoint {
  window: number;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  spend: number;
}

export interface ConsoleToken extends TokenListEntry {
  /** The last `USAGE_SPAN_SECONDS`: totals and one point a window (windows without use left out). */
  usage: { totals: UsageCounts; points: UsagePoint[] };
  throttle?: { rule: string; rps: number; until: string };
}

/** A secret as the page lists it: never its value. */
export interface ConsoleSecret {
  name: string;
  updatedAt: string;
  upstream?: string;
  inject?: string;
  /** Stored sealed and not used since. */
  sealed?: true;
}

export interface AuditFilter {
  actor?: string;
  secret?: string;
  action?: string;
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
}

/** A body field of the wrong type: one sentence naming the form's field. */
function badField(name: string, what: string): EggError {
  return new EggError('ERR_USAGE', `${name} must be ${what}`);
}

type Body = Record<string, unknown>;

function asBody(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new EggError('ERR_USAGE', 'the request body must be a JSON object');
  return body as Body;
}

function text(body: Body, name: string): string {
  const value = body[name];
  if (typeof value !== 'string') throw badField(name, 'text');
  return value;
}

function texts(body: Body, name: string): string[] {
  const value = body[name] ?? [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw badField(name, 'a list of text');
  return value.map((v) => v.trim()).filter((v) => v !== '');
}

function whole(body: Body, name: string): number | undefined {
  const value = body[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw badField(name, 'a whole number');
  return value;
}

function required(body: Body, name: string): number {
  const value = whole(body, name);
  if (value === undefined) throw badField(name, 'given');
  return value;
}

export class ConsoleApi {
  readonly namespace: string;
  readonly #options: ConsoleApiOptions;
  readonly #clock: () => number;

  constructor(options: ConsoleApiOptions) {
    this.namespace = options.namespace;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** What the page shows in its header. */
  about() {
    const { namespace, backend, actor, usage, sealing } = this.#options;
    return { namespace, backend, actor, usage: usage !== undefined, seal: sealing !== undefined };
  }

  /** Every token of the namespace, with its last half hour of usage and its throttle. */
  async tokens(): Promise<ConsoleToken[]> {
    const list = await this.#options.tokens.list();
    const store = this.#options.usage;
    const now = Math.floor(this.#clock() / 1000);
    const windows =
      store === undefined ? [] : await store.readUsage(this.namespace, [], now - USAGE_SPAN_SECONDS);
    const throttles =
      store === undefined ? new Map<string, Throttle>() : await store.throttles(this.namespace);
    const sums = sumUsage(windows);
    return list.map((entry) => {
      const points = windows
        .filter((w) => w.id === entry.id)
        .sort((a, b) => a.window - b.window)
        .map(({ window, requests, clientErrors, serverErrors, spend }) => ({
          window,
          requests,
          clientErrors,
          serverErrors,
          spend,
        }));
      return {
        ...entry,
        usage: { totals: sums.get(entry.id) ?? emptyCounts(), points },
        ...throttleShown(throttles.get(entry.id), now),
      };
    });
  }

  /**
   * Mint from the form: `{ key, origins, allowNoOrigin, ttl: "1h", rps, burst?, spend, cost?,
   * maxClients?, clientRps?, tags: ["k=v"] }`. The caps are checked by `Tokens.mint`, as the
   * CLI's flags are (tokens/claims.ts checkMint), so a bad one is refused in the same words.
   */
  async mint(input: unknown) {
    const body = asBody(input);
    const ttlSeconds = parseDuration(text(body, 'ttl'), 'Lifetime', 1, 'lifetime');
    const burst = whole(body, 'burst');
    const cost = whole(body, 'cost');
    const maxClients = whole(body, 'maxClients');
    const clientRps = whole(body, 'clientRps');
    const minted = await this.#options.tokens.mint({
      key: text(body, 'key'),
      origins: texts(body, 'origins'),
      allowNoOrigin: body.allowNoOrigin === true,
      ttlSeconds,
      rps: required(body, 'rps'),
      ...(burst === undefined ? {} : { burst }),
      spend: required(body, 'spend'),
      ...(cost === undefined ? {} : { cost }),
      ...(maxClients === undefined ? {} : { maxClients }),
      ...(clientRps === undefined ? {} : { clientRps }),
      tags: parseTags(texts(body, 'tags')),
    });
    return { token: minted.token, id: minted.id, expiresAt: minted.expiresAt };
  }

  /** Revoke `{ ids }`. */
  async revoke(input: unknown) {
    const ids = texts(asBody(input), 'ids');
    if (ids.length === 0) throw badField('ids', 'at least one token id');
    return this.#options.tokens.revoke(ids);
  }

  /**
   * Rotate `{ id, grace: "5m" }`: a successor with the same claims, shown once; the old token
   * stops after the grace (0: at once), by every proxy's own clock.
   */
  async rotate(input: unknown) {
    const body = asBody(input);
    const grace = parseDuration(text(body, 'grace'), 'Grace', 0);
    const rotated = await this.#options.tokens.rotate(text(body, 'id'), grace);
    const { successor } = rotated;
    return {
      token: successor.token,
      id: successor.id,
      expiresAt: successor.expiresAt,
      replaces: rotated.id,
      stopsAt: rotated.stopsAt,
    };
  }

  /** The kill switch, only with `{ confirm }` equal to the namespace's name. */
  async killSwitch(input: unknown) {
    const confirm = asBody(input).confirm;
    if (confirm !== this.namespace)
      throw new EggError('ERR_USAGE', 'type the namespace’s name to confirm the kill switch');
    return this.#options.tokens.killSwitch();
  }

  /** The namespace's secrets: names and proxy metadata, never values. */
  async secrets(): Promise<ConsoleSecret[]> {
    const list = await this.#options.vault.list();
    return list.map(({ name, updatedAt, upstream, inject, sealed }) => ({
      name,
      updatedAt,
      ...(upstream === undefined ? {} : { upstream }),
      ...(inject === undefined ? {} : { inject }),
      ...(sealed === true ? { sealed } : {}),
    }));
  }

  /** The namespace's sealing public key, which the page seals provider keys to. */
  sealingKey(): Promise<SealingPublicKey> {
    return this.#sealingPort().publicKey();
  }

  /**
   * Store a provider key the page sealed: `{ name, upstream, inject?, sealed }`. The blob is
   * passed on as it came; the sealing library checks it, and nothing here can unseal it.
   */
  async putProviderKey(input: unknown) {
    const body = asBody(input);
    const inject = body.inject === undefined ? undefined : text(body, 'inject');
    const meta = await this.#sealingPort().put({
      name: text(body, 'name'),
      upstream: text(body, 'upstream'),
      ...(inject === undefined || inject.trim() === '' ? {} : { inject }),
      sealed: body.sealed,
    });
    return { name: meta.name, rev: meta.rev, upstream: meta.upstream, sealed: meta.sealed === true };
  }

  #sealingPort() {
    const sealing = this.#options.sealing;
    if (sealing === undefined)
      throw new EggError('ERR_USAGE', 'this console cannot store sealed provider keys');
    return sealing;
  }

  /** The audit records that pass every filter given, oldest first. */
  async audit(filter: AuditFilter): Promise<AuditRecord[]> {
    const records = await this.#options.vault.auditTrail();
    return records.filter((r) => matches(r, filter));
  }

  /** `audit` as JSON lines, for a download. */
  async auditLines(filter: AuditFilter): Promise<string> {
    return (await this.audit(filter)).map((r) => `${JSON.stringify(r)}\n`).join('');
  }

  verifyAudit(): Promise<TrailVerdict> {
    return this.#options.verifyAudit();
  }
}

/** The filters of a query string (`actor`, `secret`, `action`, `since`, `until`); empty ones are left out. */
export function auditFilter(query: URLSearchParams): AuditFilter {
  const filter: AuditFilter = {};
  for (const key of ['actor', 'secret', 'action', 'since', 'until'] as const) {
    const value = query.get(key)?.trim();
    if (value) filter[key] = value;
  }
  for (const key of ['since', 'until'] as const) {
    const value = filter[key];
    if (value !== undefined && Number.isNaN(Date.parse(value)))
      throw badField(key, 'a time such as 2026-01-31T12:00:00Z');
  }
  return filter;
}

/** Actor and action match as substrings (case-insensitive), the secret as one of the targets exactly. */
function matches(record: AuditRecord, filter: AuditFilter): boolean {
  const has = (value: string, part: string | undefined) =>
    part === undefined || value.toLowerCase().includes(part.toLowerCase());
  const time = Date.parse(record.time);
  return (
    has(record.actor, filter.actor) &&
    has(record.action, filter.action) &&
    (filter.secret === undefined || record.targets.includes(filter.secret)) &&
    (filter.since === undefined || time >= Date.parse(filter.since)) &&
    (filter.until === undefined || time <= Date.parse(filter.until))
  );
}
