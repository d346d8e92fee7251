/**
 * What a token says: its claims, and the checks on every value a user or a token gives
 * (origins, lifetime, caps, tags). One set of checks serves minting (a clear error naming
 * the flag) and verification (anything off is an invalid token). The checks here are pure:
 * the time rules that need the clock (`iat` and `nbf` at most 30 s ahead, `exp` not past)
 * belong to the verifier, which holds the clock.
 */
import { EggError } from '../errors.js';
import { isNamespace, isSecretName } from '../names.js';

export interface TokenClaims {
  /** Token id: 16 random bytes, base64url. Public: lists, logs and revocations name it. */
  jti: string;
  /**
   * 16 more random bytes, base64url, kept nowhere but in the token: they make the token
   * (and so its record's digest) unpredictable to anyone who knows its id and caps.
   */
  nonce: string;
  /** The namespace. */
  sub: string;
  /** The secret (provider key) the token stands for. */
  key: string;
  /** Allowed origins, exact `scheme://host[:port]`; empty only for a native-only token. */
  origins: string[];
  /**
   * Present (and exactly `true`) when the token was minted with `--allow-no-origin`: it may
   * also be used by clients that send no `Origin` (native apps). Absent otherwise: a token
   * bound to web origins needs a request `Origin` that is one of them.
   */
  native?: true;
  /** Sustained requests per second and bucket size (per proxy process). */
  rps: number;
  burst: number;
  /** Spend cap, in cost units, shared by every proxy through the store. */
  spend: number;
  /** Cost of one request, in the same units. */
  cost: number;
  /**
   * `--max-clients`: distinct client addresses the token may be used from in one usage window
   * (a minute, across every proxy); a new address past it is refused. Absent: no limit
   * (tokens minted before it keep working as they were).
   */
  maxClients?: number;
  /** `--client-rps`: sustained requests per second from one client address (per proxy). Absent: none. */
  clientRps?: number;
  iat: number;
  nbf: number;
  exp: number;
  tags?: Record<string, string>;
}

/** Longest lifetime a token may have, counted from the earlier of `iat` and `nbf`. */
export const MAX_TTL_SECONDS = 24 * 3600;
export const MAX_ORIGINS = 32;
export const MAX_TAGS = 16;
/**
 * Most distinct client addresses a token may allow: each proxy keeps, and the store shares,
 * the addresses of a window, so this bounds both (src/proxy/client-limits.ts).
 */
export const MAX_CLIENTS = 1000;
/** Caps are integers up to this (far below 2^53, so sums stay exact). */
export const MAX_CAP = 1e12;
/** A token id: 16 random bytes in base64url. */
export const TOKEN_ID = /^[A-Za-z0-9_-]{22}$/;
const TAG_KEY = /^[a-z][a-z0-9_.-]{0,31}$/;
const TAG_VALUE = /^[A-Za-z0-9_.:/@+-]{1,128}$/;
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The canonical form of an origin (`https://app.example.com`, `http://localhost:5173`),
 * as browsers serialise the `Origin` header (RFC 6454 §6.1, WHATWG URL "origin"): lowercase
 * scheme and host (an internationalised host in its `xn--` form), no default port, no path,
 * query, fragment or credentials. Undefined when `value` is not exactly an origin; `null`
 * (an opaque origin) never is one. The proxy compares a request's `Origin` with these forms
 * (src/proxy/origin.ts).
 */
export function normalizeOrigin(value: string): string | undefined {
  if (value.length > 300 || !/^https?:\/\/[^/?#@\s]+\/?$/i.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search || url.hash)
    return undefined;
  const host = url.hostname;
  const isIp = /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host) || host.startsWith('[');
  if (!isIp && !HOSTNAME.test(host)) return undefined;
  return url.origin;
}

/** The CLI's words for a value that is not an origin. */
export function notAnOrigin(value: string, label = '--origin'): EggError {
  return new EggError('ERR_USAGE', `${label} ${quote(value)} is not an origin`, {
    hint: 'give scheme://host[:port] exactly, e.g. https://app.example.com, with no path',
  });
}

/** `90s`, `15m`, `1h`, `1d` or plain seconds → seconds, at most 24 h. */
export function parseTtl(value: string): number {
  return parseDuration(value, '--ttl', 1, 'lifetime');
}

/**
 * A duration flag (`90s`, `15m`, `1h`, `1d` or plain seconds) → seconds, from `min` to 24 h.
 * @example parseDuration('5m', '--grace', 0) // 300
 */
export function parseDuration(value: string, flag: string, min: number, noun = 'duration'): number {
  const match = /^(\d{1,6})(s|m|h|d)?$/.exec(value.trim());
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match?.[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  const seconds = match === null ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(seconds) || seconds < min || seconds > MAX_TTL_SECONDS) {
    throw new EggError('ERR_USAGE', `${flag} ${quote(value)} is not a ${noun} between ${min}s and 24h`, {
      hint: 'use a number with s, m or h, e.g. 90s, 15m, 1h',
    });
  }
  return seconds;
}

/** `k=v` pairs → a record; keys lowercase, values from a small safe alphabet. */
export function parseTags(pairs: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  if (pairs.length > MAX_TAGS) throw new EggError('ERR_USAGE', `at most ${MAX_TAGS} tags per token`);
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at);
    const value = pair.slice(at + 1);
    if (at < 1 || !TAG_KEY.test(key) || !TAG_VALUE.test(value)) {
      throw new EggError('ERR_USAGE', `--tag ${quote(pair)} is not a tag`, {
        hint: 'use key=value: a lowercase key (letters, digits, _ . -) and a value of letters, digits and _ . : / @ + -',
      });
    }
    tags[key] = value;
  }
  return tags;
}

/** A mint as asked for, before the rules: origins as given, lifetime and caps as numbers. */
export interface MintRequest {
  origins: readonly string[];
  allowNoOrigin?: boolean | undefined;
  ttlSeconds: number;
  rps: number;
  burst?: number | undefined;
  spend: number;
  cost?: number | undefined;
  maxClients?: number | undefined;
  clientRps?: number | undefined;
}

/** What a request that keeps the rules mints: canonical origins (once each), and every cap. */
export interface MintLimits {
  origins: string[];
  rps: number;
  burst: number;
  spend: number;
  cost: number;
  /** Present only when asked for. */
  maxClients?: number;
  clientRps?: number;
}

/** The first mint rule a request breaks; each edge says it in its own words (flags, mint-tokens fields). */
export type MintProblem =
  | { rule: 'no-origin' }
  | { rule: 'too-many-origins'; count: number }
  | { rule: 'origin'; value: string }
  | { rule: 'ttl'; seconds: number; max: number }
  | { rule: 'cap'; field: 'rps' | 'burst' | 'spend' | 'cost' | 'client-rps'; value: number }
  | { rule: 'max-clients'; value: number; max: number }
  | { rule: 'cost-above-spend'; cost: number; spend: number };

const isCap = (value: number) => Number.isSafeInteger(value) && value >= 1 && value <= MAX_CAP;
const isClients = (value: unknown) =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_CLIENTS;

/**
 * The mint rules, in one place for the CLI, the Action and `Tokens.mint`: 1 to MAX_ORIGINS
 * origins (none only for a native app), each exactly an origin; a lifetime of whole seconds
 * up to `maxTtlSeconds` (24 h; the Action passes a job's 6 h); caps from 1 to MAX_CAP, with
 * burst defaulting to rps and cost to 1; a cost no larger than spend; and, when asked for,
 * client limits: 1 to MAX_CLIENTS addresses, a per-client rate from 1 to MAX_CAP.
 */
export function checkMint(
  request: MintRequest,
  maxTtlSeconds: number = MAX_TTL_SECONDS,
): { ok: true; limits: MintLimits } | { ok: false; problem: MintProblem } {
  const fail = (problem: MintProblem) => ({ ok: false as const, problem });
  const count = request.origins.length;
  if (count === 0 && request.allowNoOrigin !== true) return fail({ rule: 'no-origin' });
  if (count > MAX_ORIGINS) return fail({ rule: 'too-many-origins', count });
  const origins: string[] = [];
  for (const value of request.origins) {
    const origin = normalizeOrigin(value);
    if (origin === undefined) return fail({ rule: 'origin', value });
    if (!origins.includes(origin)) origins.push(origin);
  }
  const seconds = request.ttlSeconds;
  if (!(Number.isSafeInteger(seconds) && seconds >= 1 && seconds <= maxTtlSeconds))
    return fail({ rule: 'ttl', seconds, max: maxTtlSeconds });
  const caps = {
    rps: request.rps,
    burst: request.burst ?? request.rps,
    spend: request.spend,
    cost: request.cost ?? 1,
  };
  for (const field of ['rps', 'burst', 'spend', 'cost'] as const) {
    if (!isCap(caps[field])) return fail({ rule: 'cap', field, value: caps[field] });
  }
  if (caps.cost > caps.spend) return fail({ rule: 'cost-above-spend', cost: caps.cost, spend: caps.spend });
  const clients: { maxClients?: number; clientRps?: number } = {};
  if (request.maxClients !== undefined) {
    if (!isClients(request.maxClients))
      return fail({ rule: 'max-clients', value: request.maxClients, max: MAX_CLIENTS });
    clients.maxClients = request.maxClients;
  }
  if (request.clientRps !== undefined) {
    if (!isCap(request.clientRps))
      return fail({ rule: 'cap', field: 'client-rps', value: request.clientRps });
    clients.clientRps = request.clientRps;
  }
  return { ok: true, limits: { origins, ...caps, ...clients } };
}

/**
 * Whether a verified payload has every claim, each well-formed: anything else is an invalid
 * token. The minter may be the attacker (a role allowed to sign can sign any claims), so
 * every rule holds here and not only in `Tokens.mint`:
 * - times (DESIGN, Token times): `iat <= nbf < exp` and `exp - min(iat, nbf) <= 24 h`, so a
 *   token cannot be dated after it becomes valid (the kill switch compares `iat`);
 * - origins: canonical, at most 32, at least one unless `native` is exactly `true`;
 * - client limits: absent (a token from before them), or within their bounds.
 */
export function isTokenClaims(
  payload: Record<string, unknown>,
): payload is Record<string, unknown> & TokenClaims {
  const p = payload;
  const int = (v: unknown, min = 1) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= MAX_CAP;
  const time = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
  return (
    typeof p.jti === 'string' &&
    TOKEN_ID.test(p.jti) &&
    typeof p.nonce === 'string' &&
    TOKEN_ID.test(p.nonce) &&
    typeof p.sub === 'string' &&
    isNamespace(p.sub) &&
    typeof p.key === 'string' &&
    isSecretName(p.key) &&
    (p.native === undefined || p.native === true) &&
    Array.isArray(p.origins) &&
    p.origins.length >= (p.native === true ? 0 : 1) &&
    p.origins.length <= MAX_ORIGINS &&
    p.origins.every((o) => typeof o === 'string' && normalizeOrigin(o) === o) &&
    int(p.rps) &&
    int(p.burst) &&
    int(p.spend) &&
    int(p.cost) &&
    (p.cost as number) <= (p.spend as number) &&
    (p.maxClients === undefined || isClients(p.maxClients)) &&
    (p.clientRps === undefined || int(p.clientRps)) &&
    time(p.iat) &&
    time(p.nbf) &&
    time(p.exp) &&
    (p.iat as number) <= (p.nbf as number) &&
    (p.exp as number) > (p.nbf as number) &&
    (p.exp as number) - Math.min(p.iat as number, p.nbf as number) <= MAX_TTL_SECONDS &&
    (p.tags === undefined || isTags(p.tags))
  );
}

function isTags(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length <= MAX_TAGS &&
    entries.every(([k, v]) => TAG_KEY.test(k) && typeof v === 'string' && TAG_VALUE.test(v))
  );
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
