/**
 * Minting, listing and revoking host-bound tokens (DESIGN, Host-bound tokens). A token
 * can be minted only for a secret stored with a pinned upstream; every mint, revocation
 * and kill switch is recorded in the namespace's audit trail (token ids, never tokens).
 */
import { randomBytes } from 'node:crypto';
import { EggError } from '../errors.js';
import { decimal } from './price.js';
import { isExpired } from '../expiry.js';
import { assertNamespace, assertSecretName } from '../names.js';
import type { SecretStore } from '../stores/store.js';
import { chainRecord } from '../vault/audit.js';
import {
  checkMint,
  MAX_CAP,
  MAX_ORIGINS,
  MAX_TTL_SECONDS,
  type MintProblem,
  notAnOrigin,
  TOKEN_ID,
  type TokenClaims,
} from './claims.js';
import { encodeToken, tokenDigest } from './format.js';
import type { TokenSigner } from './signer.js';
import type { TokenRecord, TokenStore } from './token-store.js';
import {
  isUsageStore,
  readUsageReport,
  type TokenUsage,
  type UsageReport,
  type UsageStore,
} from './usage-store.js';
import { TOKEN_TYP } from './verifier.js';

export interface MintInput {
  key: string;
  /** The web apps' origins; may be empty only with `allowNoOrigin`. */
  origins: readonly string[];
  /**
   * `--allow-no-origin`: the token may also be used by clients that send no `Origin` (native
   * apps), relying on its caps; it is still refused from any origin not in `origins`.
   */
  allowNoOrigin?: boolean;
  ttlSeconds: number;
  rps: number;
  burst?: number;
  spend: number;
  cost?: number;
  /** `--max-clients`, `--client-rps` (claims.ts). */
  maxClients?: number;
  clientRps?: number;
  tags?: Record<string, string>;
}

export interface MintedToken {
  /** The token string: shown once, never stored. */
  token: string;
  id: string;
  expiresAt: string;
  claims: TokenClaims;
}

export interface TokenListEntry {
  id: string;
  key: string;
  origins: string[];
  allowNoOrigin: boolean;
  rps: number;
  burst: number;
  spend: number;
  spent: number;
  cost: number;
  /** Present when minted with them. */
  maxClients?: number;
  clientRps?: number;
  issuedAt: string;
  expiresAt: string;
  tags: Record<string, string>;
  status: 'active' | 'expired' | 'revoked';
  /** When a revocation still to come takes effect (a rotation's grace); absent when none. */
  revokesAt?: string;
  /**
   * Its key has a price table (docs/spend.md): `spend` and `spent` are micro-units of the
   * price's unit, and `spentUnits` / `spendUnits` show them in the unit.
   */
  priced?: true;
  spentUnits?: string;
  spendUnits?: string;
}

export interface RotatedToken {
  /** The successor: same claims and tags, a fresh id, nonce, lifetime and spend counter. */
  successor: MintedToken;
  /** The rotated token's id. */
  id: string;
  /** When the rotated token stops being accepted (now, with no grace). */
  stopsAt: string;
}

/**
 * Refuse token `id` (its list entry, undefined when not minted in `namespace`) if it cannot be
 * rotated: unknown, not active, or already on its way out. `prefix` leads the message.
 */
export function assertRotatable(
  entry: TokenListEntry | undefined,
  id: string,
  namespace: string,
  hint: string,
  prefix = '',
): asserts entry is TokenListEntry {
  const why =
    entry === undefined
      ? `no token ${id} was minted in ${namespace}`
      : entry.status !== 'active'
        ? `token ${id} is ${entry.status}, so there is nothing to rotate`
        : entry.revokesAt !== undefined
          ? `token ${id} is already being revoked (at ${entry.revokesAt})`
          : undefined;
  if (why !== undefined)
    throw new EggError(entry === undefined ? 'ERR_TOKEN_NOT_FOUND' : 'ERR_TOKEN_NOT_ACTIVE', prefix + why, {
      hint,
    });
}

/** What `egg tokens usage` shows: a priced key's tokens with their spend in its unit too (docs/spend.md). */
export interface TokenUsageReport extends UsageReport {
  tokens: (TokenUsage & { priced?: true; spendUnits?: string })[];
}

/** The longest grace a rotation allows: a token's longest life. */
export const MAX_GRACE_SECONDS = MAX_TTL_SECONDS;

export interface TokensOptions {
  namespace: string;
  signer: TokenSigner;
  tokens: TokenStore;
  secrets: SecretStore;
  actor: string;
  clock?: () => number;
}

/** A broken mint rule (claims.ts checkMint) in the CLI's words, which name its flags. */
function mintError(problem: MintProblem): EggError {
  switch (problem.rule) {
    case 'no-origin':
    case 'too-many-origins':
      return new EggError(
        'ERR_USAGE',
        problem.rule === 'no-origin'
          ? `give 1 to ${MAX_ORIGINS} --origin values, or --allow-no-origin for a native app`
          : `give at most ${MAX_ORIGINS} --origin values`,
        {
          hint: 'the origins of the web apps allowed to use the token, e.g. --origin https://app.example.com; --allow-no-origin lets clients that send no Origin (native apps) use it too',
        },
      );
    case 'origin':
      return notAnOrigin(problem.value);
    case 'ttl':
      return new EggError('ERR_USAGE', `--ttl must be a lifetime from 1s to ${problem.max / 3600}h`);
    case 'cap':
      return new EggError('ERR_USAGE', `--${problem.field} must be a whole number from 1 to ${MAX_CAP}`);
    case 'max-clients':
      return new EggError('ERR_USAGE', `--max-clients must be a whole number from 1 to ${problem.max}`);
    case 'cost-above-spend':
      return new EggError('ERR_USAGE', '--cost is larger than --spend: no request could pass');
  }
}

function assertTokenId(id: string): void {
  if (!TOKEN_ID.test(id))
    throw new EggError('ERR_USAGE', `${JSON.stringify(id.slice(0, 40))} is not a token id`, {
      hint: 'token ids are 22 characters; see them with `egg tokens list`',
    });
}

/** The client limits of a mint, a record or a list entry: only those it has. */
function clientLimits(from: { maxClients?: number | undefined; clientRps?: number | undefined }): {
  maxClients?: number;
  clientRps?: number;
} {
  return {
    ...(from.maxClients === undefined ? {} : { maxClients: from.maxClients }),
    ...(from.clientRps === undefined ? {} : { clientRps: from.clientRps }),
  };
}

const b64u = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

export class Tokens {
  readonly namespace: string;
  readonly #signer: TokenSigner;
  readonly #tokens: TokenStore;
  readonly #secrets: SecretStore;
  readonly #actor: string;
  readonly #clock: () => number;

  constructor(options: TokensOptions) {
    assertNamespace(options.namespace);
    this.namespace = options.namespace;
    this.#signer = options.signer;
    this.#tokens = options.tokens;
    this.#secrets = options.secrets;
    this.#actor = options.actor;
    this.#clock = options.clock ?? Date.now;
  }

  /** Mint a token for the provider key `input.key`, which must have a pinned upstream. */
  async mint(input: MintInput): Promise<MintedToken> {
    assertSecretName(input.key);
    const allowNoOrigin = input.allowNoOrigin === true;
    const checked = checkMint(input);
    if (!checked.ok) throw mintError(checked.problem);
    const { origins, rps, burst, spend, cost } = checked.limits;
    const clients = clientLimits(checked.limits);
    const [secret] = await this.#secrets.getSecrets(this.namespace, [input.key]);
    if (secret === undefined) {
      throw new EggError('ERR_SECRET_NOT_FOUND', `secret not found in ${this.namespace}: ${input.key}`, {
        hint: 'store the provider key first: egg secrets set NAME --upstream https://api.example.com',
      });
    }
    if (secret.upstream === undefined) {
      throw new EggError(
        'ERR_USAGE',
        `${input.key} has no pinned upstream, so no token can be minted for it`,
        {
          hint: `set it again with its provider origin: egg secrets set ${input.key} --upstream https://api.example.com`,
        },
      );
    }
    if (isExpired(secret.expires, new Date(this.#clock()))) {
      throw new EggError(
        'ERR_SECRET_EXPIRED',
        `${input.key} expired at ${secret.expires}, so no token can be minted for it`,
        {
          hint: `store the new key with an expiry: egg secrets set ${input.key} --expires 90d`,
        },
      );
    }
    // A kill switch rounds its epoch up to the next second; a token minted after it, in that
    // same second, is dated at the epoch so that it is not void at birth.
    const epochs = await this.#epochs();
    const now = Math.max(Math.floor(this.#clock() / 1000), ...epochs);
    const claims: TokenClaims = {
      jti: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
      sub: this.namespace,
      key: input.key,
      origins,
      ...(allowNoOrigin ? { native: true as const } : {}),
      rps,
      burst,
      spend,
      cost,
      ...clients,
      iat: now,
      nbf: now,
      exp: now + input.ttlSeconds,
    };
    if (input.tags !== undefined && Object.keys(input.tags).length > 0) claims.tags = { ...input.tags };
    const header = { alg: 'EdDSA', typ: TOKEN_TYP, kid: await this.#signer.kid() };
    const signingInput = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const signature = await this.#signer.sign(Buffer.from(signingInput));
    const token = encodeToken(`${signingInput}.${b64u(signature)}`);
    // The record is what makes the token valid (the proxy checks it on every request), so it
    // is written to this namespace's partition, which only this namespace's roles can write.
    await this.#tokens.putToken({
      id: claims.jti,
      digest: tokenDigest(token),
      namespace: this.namespace,
      key: claims.key,
      origins,
      rps,
      burst,
      spend,
      cost,
      ...clients,
      iat: claims.iat,
      exp: claims.exp,
      tags: claims.tags ?? {},
      actor: this.#actor,
      allowNoOrigin,
    });
    await this.#audit('token.mint', [claims.jti]);
    // A kill switch between the epoch read above and the record's write did not mark the
    // record (it was not there yet), and a minting clock running ahead may have dated the
    // token after the new epoch: it would outlive the kill switch. The token string has left
    // no process yet, so dropping it is enough. A kill switch after this read marks the record.
    if ((await this.#epochs()).some((epoch, i) => epoch !== epochs[i])) {
      throw new EggError(
        'ERR_CONFLICT',
        'egg killswitch ran while this token was being minted, so it was discarded',
        {
          hint: 'mint it again',
        },
      );
    }
    return { token, id: claims.jti, expiresAt: new Date(claims.exp * 1000).toISOString(), claims };
  }

  /** The namespace's tokens (never the token strings), oldest first. */
  async list(): Promise<TokenListEntry[]> {
    const records = await this.#tokens.listTokens(this.namespace);
    const priced = await this.#pricedKeys();
    const now = Math.floor(this.#clock() / 1000);
    const notBefore = Math.max(...(await this.#epochs()));
    return records.map((r) => ({
      id: r.id,
      key: r.key,
      origins: r.origins,
      allowNoOrigin: r.allowNoOrigin,
      rps: r.rps,
      burst: r.burst,
      spend: r.spend,
      spent: r.spent,
      cost: r.cost,
      ...clientLimits(r),
      issuedAt: new Date(r.iat * 1000).toISOString(),
      expiresAt: new Date(r.exp * 1000).toISOString(),
      tags: r.tags,
      status:
        r.revoked || r.iat < notBefore || (r.revokeAt ?? Infinity) <= now
          ? 'revoked'
          : r.exp <= now
            ? 'expired'
            : 'active',
      ...(r.revokeAt !== undefined && r.revokeAt > now && r.exp > now
        ? { revokesAt: new Date(r.revokeAt * 1000).toISOString() }
        : {}),
      ...(priced.has(r.key)
        ? { priced: true as const, spentUnits: decimal(r.spent), spendUnits: decimal(r.spend) }
        : {}),
    }));
  }

  /**
   * The namespace's provider keys with a price table (their metadata, nothing decrypted). A
   * caller that may list tokens but not read secret items sees none priced: the figures are
   * then shown as counted, in micro-units.
   */
  async #pricedKeys(): Promise<Set<string>> {
    try {
      const items = await this.#secrets.getSecrets(this.namespace);
      return new Set(items.filter((item) => item.price !== undefined).map((item) => item.name));
    } catch {
      return new Set();
    }
  }

  /**
   * Rotate token `id`: mint a successor with the same claims (key, origins, no-origin use,
   * caps, tags; a fresh spend counter and the original's full lifetime from now), then revoke
   * `id` from `graceSeconds` on (at once with 0). The revocation is an entry every proxy
   * reads and enforces by its own clock: nothing has to stay running for the grace to end.
   * A token that expires first just expires. Refuses an id that is not active here.
   */
  async rotate(id: string, graceSeconds: number): Promise<RotatedToken> {
    if (!Number.isSafeInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS)
      throw new TypeError(`graceSeconds must be a whole number from 0 to ${MAX_GRACE_SECONDS}`);
    assertTokenId(id);
    const entry = (await this.list()).find((t) => t.id === id);
    assertRotatable(
      entry,
      id,
      this.namespace,
      'see the active tokens with `egg tokens list`; mint a new one with `egg tokens mint`',
    );
    const successor = await this.mint({
      key: entry.key,
      origins: entry.origins,
      allowNoOrigin: entry.allowNoOrigin,
      ttlSeconds: Math.round((Date.parse(entry.expiresAt) - Date.parse(entry.issuedAt)) / 1000),
      rps: entry.rps,
      burst: entry.burst,
      spend: entry.spend,
      cost: entry.cost,
      ...clientLimits(entry),
      tags: entry.tags,
    });
    const exp = Math.floor(Date.parse(entry.expiresAt) / 1000);
    const at = Math.min(Math.floor(this.#clock() / 1000) + graceSeconds, exp);
    try {
      await this.#tokens.revoke(this.namespace, [{ id, exp, ...(graceSeconds > 0 ? { at } : {}) }]);
    } catch (error) {
      // The successor's string has not left this process: void it rather than leave a second
      // live token behind a rotation that did not happen.
      await this.#tokens
        .revoke(this.namespace, [{ id: successor.id, exp: successor.claims.exp }])
        .catch(() => {});
      throw error;
    }
    await this.#audit('token.rotate', [id, successor.id]);
    return {
      successor,
      id,
      stopsAt: new Date((graceSeconds > 0 ? at : Math.floor(this.#clock() / 1000)) * 1000).toISOString(),
    };
  }

  /**
   * Revoke token ids and/or every token carrying all of `tags`. Ids not recorded here are
   * revoked anyway (kept a day, a token's longest life) and reported as `unknown`.
   */
  async revoke(
    ids: readonly string[],
    tags: Record<string, string> = {},
  ): Promise<{ revoked: string[]; unknown: string[] }> {
    for (const id of ids) assertTokenId(id);
    const records = await this.#tokens.listTokens(this.namespace);
    const byId = new Map(records.map((r) => [r.id, r]));
    const tagPairs = Object.entries(tags);
    const tagged =
      tagPairs.length === 0
        ? []
        : records.filter((r) => tagPairs.every(([k, v]) => r.tags[k] === v)).map((r) => r.id);
    const chosen = [...new Set([...ids, ...tagged])];
    const now = Math.floor(this.#clock() / 1000);
    const entries = chosen.map((id) => ({ id, exp: byId.get(id)?.exp ?? now + 86400 }));
    if (entries.length > 0) {
      await this.#tokens.revoke(this.namespace, entries);
      await this.#audit('token.revoke', chosen);
    }
    return { revoked: chosen, unknown: ids.filter((id) => !byId.has(id)) };
  }

  /**
   * The kill switch: every token of the namespace issued up to now is void, by its `iat`
   * (the epoch) and by its record (every record that exists now is marked), so a token dated
   * ahead of the minter's clock does not outlive it. A token being minted at this very
   * moment may be void too: mint it again.
   */
  async killSwitch(): Promise<{ notBefore: string }> {
    // +1: a token minted in this very second (iat == now) is void too.
    const epoch = await this.#tokens.killSwitch(this.namespace, Math.floor(this.#clock() / 1000) + 1);
    await this.#audit('token.killswitch', []);
    return { notBefore: new Date(epoch * 1000).toISOString() };
  }

  /**
   * What each token of `ids` (every token with usage when empty) was used for over the
   * `sinceSeconds` before now, with the throttles in force. Tokens of a priced key spend
   * micro-units: their spend is also given in the unit.
   */
  async usage(ids: readonly string[], sinceSeconds: number): Promise<TokenUsageReport> {
    for (const id of ids) assertTokenId(id);
    const store = this.#usage();
    const priced = new Set((await this.list()).filter((t) => t.priced).map((t) => t.id));
    const now = Math.floor(this.#clock() / 1000);
    const report = await readUsageReport(store, this.namespace, ids, sinceSeconds, now);
    return {
      ...report,
      tokens: report.tokens.map((t) =>
        priced.has(t.id) ? { ...t, priced: true as const, spendUnits: decimal(t.spend) } : t,
      ),
    };
  }

  /**
   * Lift the throttle of each of `ids` now (running proxies lift it at their next poll);
   * the ids that had one in force. Audited as `token.unthrottle` of those.
   */
  async unthrottle(ids: readonly string[]): Promise<string[]> {
    for (const id of ids) assertTokenId(id);
    const store = this.#usage();
    const now = Math.floor(this.#clock() / 1000);
    const lifted: string[] = [];
    for (const id of ids) if (await store.liftThrottle(this.namespace, id, now)) lifted.push(id);
    await this.#audit('token.unthrottle', lifted);
    return lifted;
  }

  #usage(): UsageStore {
    if (!isUsageStore(this.#tokens))
      throw new TypeError(`the ${this.#tokens.kind} token store keeps no usage`);
    return this.#tokens;
  }

  /** The kill switch epochs in force here: the namespace's and the account's (seconds). */
  async #epochs(): Promise<[namespace: number, account: number]> {
    const [namespace, account] = await Promise.all([
      this.#tokens.revocationVersion(this.namespace),
      this.#tokens.accountRevocation(),
    ]);
    return [namespace.notBefore, account.notBefore];
  }

  async #audit(action: string, targets: string[]): Promise<void> {
    await this.#secrets.appendAudit(this.namespace, (head) =>
      chainRecord(
        this.namespace,
        head,
        { action, targets, actor: this.#actor, outcome: 'ok' },
        new Date(this.#clock()),
      ),
    );
  }
}

export type { TokenRecord };
