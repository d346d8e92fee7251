/**
 * The DynamoDB token store: items in the partition `tokens#<namespace>` of the vault table
 * (so `dynamodb:LeadingKeys` confines them per namespace, and a grant may mint tokens
 * without being able to write the namespace's secrets):
 * - `TK#<id>` a minted token's record (claims and the token's digest, never the token
 *   string), its spend counter and `killedAt` (0 as minted; the kill switch's epoch once it
 *   marked the record): the proxy's `ADD spent :cost`, conditional on the digest, on
 *   `killedAt = 0` and on `spent <= cap - cost`, is also its proof that the token was
 *   minted here and outlived every kill switch;
 * - `RV#head` the revocation head: `version` (ADD 1 on every change), `notBefore`, and the
 *   anomaly throttles (`th#<id>`, dynamodb-usage.ts);
 * - `RV#t#<id>` a revoked token id, with `exp`, and `at` when it takes effect later (a
 *   rotation's grace; absent: at once).
 * The account-wide head (`egg killswitch --all`) is `RV#head` in the partition `tokens##account`,
 * which no namespace can name (`#` never occurs in one) and which the proxy's `tokens#*` grant
 * reads; a minting grant may read it, never write it (infra/stack.ts).
 * Entries carry `expiresAt` (epoch seconds) for a table TTL to reap after expiry.
 * Usage counters, throttles and alerts: dynamodb-usage.ts.
 * docs/tokens.md lists the calls each operation makes.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsErrorName, identityProblem, isConditionFailed } from '../aws/errors.js';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { type RetryOptions, retry } from '../retry.js';
import {
  DynamoDbUsage,
  headThrottles,
  REVOCATION_HEAD_SK,
  THROTTLE_PREFIX_SK,
  throttleEntry,
} from './dynamodb-usage.js';
import {
  addEntry,
  type RevocationEntry,
  type RevocationState,
  type SpendResult,
  type TokenRecord,
  type TokenStore,
} from './token-store.js';
import type {
  AlertChannelRecord,
  AlertRecord,
  RuleOverrides,
  Throttle,
  UsageStore,
  UsageWindow,
} from './usage-store.js';

type Item = Record<string, AttributeValue>;

export const TOKEN_PREFIX_SK = 'TK#';
export const REVOCATION_PREFIX_SK = 'RV#';
export { REVOCATION_HEAD_SK };
export const REVOKED_PREFIX_SK = 'RV#t#';
/** The partition of the account-wide revocation head (`tokens#` + a name no namespace can have). */
export const ACCOUNT_TOKEN_PARTITION = 'tokens##account';
/** The partition of a namespace's token items (`#` never occurs in a namespace, so none collide). */
export const tokenPartition = (namespace: string): string => `tokens#${namespace}`;

export interface DynamoDbTokenStoreOptions {
  client: DynamoDBClient;
  table: string;
  logger?: Logger;
  ownsClient?: boolean;
  /** Backoff for the hot path (spend, head polls): few, short attempts; the proxy fails closed after. */
  retry?: Pick<RetryOptions, 'attempts' | 'baseMs' | 'capMs' | 'sleep' | 'random'>;
}

const num = (n: number): AttributeValue => ({ N: String(n) });
const str = (s: string): AttributeValue => ({ S: s });
/** Token records a kill switch marks at once: a namespace may hold a day of CI tokens. */
const MARK_CONCURRENCY = 16;

export class DynamoDbTokenStore implements TokenStore, UsageStore {
  readonly kind = 'dynamodb' as const;
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #logger: Logger;
  readonly #ownsClient: boolean;
  readonly #retry: NonNullable<DynamoDbTokenStoreOptions['retry']>;
  /** Usage counters, throttles and alerts (dynamodb-usage.ts), through this store's calls. */
  readonly #usage: DynamoDbUsage;

  constructor(options: DynamoDbTokenStoreOptions) {
    this.#client = options.client;
    this.#table = options.table;
    this.#logger = options.logger ?? nullLogger;
    this.#ownsClient = options.ownsClient ?? false;
    this.#retry = options.retry ?? { attempts: 3, baseMs: 10, capMs: 100 };
    this.#usage = new DynamoDbUsage({
      client: this.#client,
      table: this.#table,
      send: (operation, namespace, call) => this.#send(operation, namespace, call),
      tokenPartition,
      bump: (namespace) => this.#bump(tokenPartition(namespace), namespace),
    });
  }

  async putToken(r: TokenRecord): Promise<void> {
    await this.#send('PutItem', r.namespace, () =>
      this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: str(tokenPartition(r.namespace)),
            sk: str(`${TOKEN_PREFIX_SK}${r.id}`),
            digest: str(r.digest),
            spent: num(0),
            key: str(r.key),
            origins: { L: r.origins.map(str) },
            rps: num(r.rps),
            burst: num(r.burst),
            spend: num(r.spend),
            cost: num(r.cost),
            iat: num(r.iat),
            exp: num(r.exp),
            tags: { M: Object.fromEntries(Object.entries(r.tags).map(([k, v]) => [k, str(v)])) },
            actor: str(r.actor),
            ...(r.allowNoOrigin ? { allowNoOrigin: { BOOL: true } } : {}),
            ...(r.maxClients === undefined ? {} : { maxClients: num(r.maxClients) }),
            ...(r.clientRps === undefined ? {} : { clientRps: num(r.clientRps) }),
            killedAt: num(0),
            expiresAt: num(r.exp + 86400),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async listTokens(namespace: string) {
    const [tokens, state] = await Promise.all([
      this.#query(namespace, TOKEN_PREFIX_SK),
      this.revocationState(namespace),
    ]);
    return tokens.map((i) => {
      const id = (i.sk?.S ?? '').slice(TOKEN_PREFIX_SK.length);
      const iat = Number(i.iat?.N ?? 0);
      return {
        id,
        digest: i.digest?.S ?? '',
        namespace,
        key: i.key?.S ?? '',
        origins: (i.origins?.L ?? []).map((o) => o.S ?? ''),
        rps: Number(i.rps?.N ?? 0),
        burst: Number(i.burst?.N ?? 0),
        spend: Number(i.spend?.N ?? 0),
        cost: Number(i.cost?.N ?? 0),
        iat,
        exp: Number(i.exp?.N ?? 0),
        tags: Object.fromEntries(Object.entries(i.tags?.M ?? {}).map(([k, v]) => [k, v.S ?? ''])),
        actor: i.actor?.S ?? '',
        allowNoOrigin: i.allowNoOrigin?.BOOL === true,
        ...(i.maxClients?.N === undefined ? {} : { maxClients: Number(i.maxClients.N) }),
        ...(i.clientRps?.N === undefined ? {} : { clientRps: Number(i.clientRps.N) }),
        // Marked by a kill switch, or from before the mark existed (no killedAt): void.
        revoked: state.revoked.has(id) || iat < state.notBefore || i.killedAt?.N !== '0',
        ...(state.revokeAt?.has(id) === true ? { revokeAt: state.revokeAt.get(id)?.at ?? 0 } : {}),
        spent: Number(i.spent?.N ?? 0),
      };
    });
  }

  async revoke(namespace: string, entries: readonly RevocationEntry[]): Promise<void> {
    // Entries first, head after: a reader that sees the new version finds every entry it counts.
    await Promise.all(
      entries.map(async ({ id, exp, at = 0 }) => {
        try {
          await this.#send('PutItem', namespace, () =>
            this.#client.send(
              new PutItemCommand({
                TableName: this.#table,
                Item: {
                  pk: str(tokenPartition(namespace)),
                  sk: str(`${REVOKED_PREFIX_SK}${id}`),
                  exp: num(exp),
                  ...(at > 0 ? { at: num(at) } : {}),
                  expiresAt: num(exp + 3600),
                },
                // A revocation only moves earlier: one at once (no `at`) replaces anything; one
                // from `at` on replaces only a later one (an entry without `at` fails `at > :at`).
                ...(at > 0
                  ? {
                      ConditionExpression: 'attribute_not_exists(pk) OR #at > :at',
                      ExpressionAttributeNames: { '#at': 'at' },
                      ExpressionAttributeValues: { ':at': num(at) },
                    }
                  : {}),
              }),
            ),
          );
        } catch (error) {
          if (!isConditionFailed(error)) throw error;
        }
      }),
    );
    await this.#bump(tokenPartition(namespace), namespace);
  }

  async accountKillSwitch(notBefore: number): Promise<number> {
    // Past the epoch in force, always: tokens minted since it are dated at it (tokens.ts). With
    // no mark to fall back on, an epoch equal to the last one would leave them valid.
    const current = (await this.accountRevocation()).notBefore;
    await this.#moveEpoch(ACCOUNT_TOKEN_PARTITION, undefined, Math.max(notBefore, current + 1));
    return (await this.accountRevocation()).notBefore;
  }

  async accountRevocation() {
    return this.#head(ACCOUNT_TOKEN_PARTITION, undefined);
  }

  async killSwitch(namespace: string, notBefore: number): Promise<number> {
    // The epoch only moves forward: set it when larger, always bump the version. Then mark
    // every record that exists by now (a strongly consistent Query after the head is written):
    // one minted before the epoch moved is found, whatever its iat; one minted after read
    // the new epoch, unless it is being written right now, and then it is marked too.
    await this.#moveEpoch(tokenPartition(namespace), namespace, notBefore);
    const epoch = (await this.revocationVersion(namespace)).notBefore;
    await this.#markRecords(namespace, epoch);
    return epoch;
  }

  async revocationVersion(namespace: string) {
    return this.#head(tokenPartition(namespace), namespace);
  }

  /** Set the head of `partition` to `notBefore` when larger; always bump its version. */
  async #moveEpoch(partition: string, label: string | undefined, notBefore: number): Promise<void> {
    try {
      await this.#send('UpdateItem', label, () =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: { pk: str(partition), sk: str(REVOCATION_HEAD_SK) },
            UpdateExpression: 'SET notBefore = :nb ADD version :one',
            ConditionExpression: 'attribute_not_exists(notBefore) OR notBefore < :nb',
            ExpressionAttributeValues: { ':nb': num(notBefore), ':one': num(1) },
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      await this.#bump(partition, label);
    }
  }

  async #head(partition: string, label: string | undefined) {
    const { Item } = await this.#send('GetItem', label, () =>
      this.#client.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: { pk: str(partition), sk: str(REVOCATION_HEAD_SK) },
          // Not the throttles the head also holds: the poll reads only these two numbers.
          ProjectionExpression: 'version, notBefore',
          ConsistentRead: true,
        }),
      ),
    );
    return { version: Number(Item?.version?.N ?? 0), notBefore: Number(Item?.notBefore?.N ?? 0) };
  }

  async revocationState(namespace: string): Promise<RevocationState> {
    const items = await this.#query(namespace, REVOCATION_PREFIX_SK);
    const state: RevocationState = { version: 0, notBefore: 0, revoked: new Map(), throttles: new Map() };
    for (const item of items) {
      const sk = item.sk?.S ?? '';
      if (sk === REVOCATION_HEAD_SK) {
        state.version = Number(item.version?.N ?? 0);
        state.notBefore = Number(item.notBefore?.N ?? 0);
        for (const [id, throttle] of headThrottles(item)) state.throttles?.set(id, throttle);
      } else if (sk.startsWith(REVOKED_PREFIX_SK)) {
        addEntry(
          state,
          sk.slice(REVOKED_PREFIX_SK.length),
          Number(item.exp?.N ?? 0),
          Number(item.at?.N ?? 0),
        );
      } else if (sk.startsWith(THROTTLE_PREFIX_SK)) {
        // A legacy item: the head's own throttle (read first, 'RV#head' < 'RV#th#') is newer.
        const [id, throttle] = throttleEntry(item);
        if (state.throttles?.has(id) !== true) state.throttles?.set(id, throttle);
      }
    }
    return state;
  }

  async reserveSpend(
    namespace: string,
    id: string,
    digest: string,
    cost: number,
    cap: number,
  ): Promise<SpendResult> {
    try {
      const { Attributes } = await this.#send('UpdateItem', namespace, () =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#table,
            // The token's own record, in the token's own partition: a role of another
            // namespace cannot have written it (dynamodb:LeadingKeys), whatever it can sign.
            Key: { pk: str(tokenPartition(namespace)), sk: str(`${TOKEN_PREFIX_SK}${id}`) },
            // Conditions cannot add, so `spent + cost <= cap` is written `spent <= cap - cost`.
            // `digest = :d` is false on a missing item, so no item is ever created here;
            // `killedAt = :zero` is false on a marked record and on one from before the mark.
            UpdateExpression: 'ADD spent :c',
            ConditionExpression: 'digest = :d AND killedAt = :zero AND spent <= :max',
            ExpressionAttributeValues: {
              ':c': num(cost),
              ':d': str(digest),
              ':zero': num(0),
              ':max': num(cap - cost),
            },
            ReturnValues: 'UPDATED_NEW',
            // The refusal carries the item as it was: absent, another digest or no killedAt (from
            // before the mark) is an unknown token, a marked one is revoked (401 both),
            // otherwise the cap is reached (402). No second read.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { ok: true, spent: Number(Attributes?.spent?.N ?? cost) };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const old = (error as { Item?: Item }).Item;
      if (old?.digest?.S !== digest || old.killedAt?.N === undefined)
        return { ok: false, reason: 'unknown-token' };
      if (old.killedAt.N !== '0') return { ok: false, reason: 'revoked' };
      return { ok: false, reason: 'spend-cap', spent: Number(old.spent?.N ?? 0) };
    }
  }

  async adjustSpend(namespace: string, id: string, digest: string, delta: number): Promise<void> {
    try {
      await this.#send('UpdateItem', namespace, () =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: { pk: str(tokenPartition(namespace)), sk: str(`${TOKEN_PREFIX_SK}${id}`) },
            // No cap: the request was forwarded, and this is what it cost. A give-back that
            // would take the counter below 0 is refused (a settled reservation cannot be).
            UpdateExpression: 'ADD spent :c',
            ConditionExpression: delta < 0 ? 'digest = :d AND spent >= :back' : 'digest = :d',
            ExpressionAttributeValues: {
              ':c': num(delta),
              ':d': str(digest),
              ...(delta < 0 ? { ':back': num(-delta) } : {}),
            },
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  addUsage(deltas: readonly UsageWindow[]) {
    return this.#usage.add(deltas);
  }

  readUsage(namespace: string, ids: readonly string[], since: number) {
    return this.#usage.read(namespace, ids, since);
  }

  setThrottle(namespace: string, id: string, throttle: Throttle) {
    return this.#usage.setThrottle(namespace, id, throttle);
  }

  liftThrottle(namespace: string, id: string, now: number) {
    return this.#usage.liftThrottle(namespace, id, now);
  }

  throttles(namespace: string) {
    return this.#usage.throttles(namespace);
  }

  putAlertChannel(channel: AlertChannelRecord) {
    return this.#usage.putChannel(channel);
  }

  removeAlertChannel(namespace: string, id: string) {
    return this.#usage.removeChannel(namespace, id);
  }

  ruleOverrides(namespace: string) {
    return this.#usage.ruleOverrides(namespace);
  }

  putRuleOverrides(namespace: string, overrides: RuleOverrides) {
    return this.#usage.putRuleOverrides(namespace, overrides);
  }

  alertChannels(namespace: string) {
    return this.#usage.channels(namespace);
  }

  recordAlert(alert: AlertRecord) {
    return this.#usage.recordAlert(alert);
  }

  alerts(namespace: string, limit: number) {
    return this.#usage.alerts(namespace, limit);
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  /** Set `killedAt` to `epoch` on every unmarked token record of the namespace. */
  async #markRecords(namespace: string, epoch: number): Promise<void> {
    const keys = (await this.#query(namespace, TOKEN_PREFIX_SK, { unmarkedKeysOnly: true })).map(
      (item) => item.sk?.S ?? '',
    );
    for (let at = 0; at < keys.length; at += MARK_CONCURRENCY) {
      await Promise.all(
        keys.slice(at, at + MARK_CONCURRENCY).map(async (sk) => {
          try {
            await this.#send('UpdateItem', namespace, () =>
              this.#client.send(
                new UpdateItemCommand({
                  TableName: this.#table,
                  Key: { pk: str(tokenPartition(namespace)), sk: str(sk) },
                  UpdateExpression: 'SET killedAt = :epoch',
                  // Never creates an item (one reaped meanwhile stays gone).
                  ConditionExpression: 'killedAt = :zero',
                  ExpressionAttributeValues: { ':epoch': num(epoch), ':zero': num(0) },
                }),
              ),
            );
          } catch (error) {
            if (!isConditionFailed(error)) throw error;
          }
        }),
      );
    }
  }

  async #bump(partition: string, label: string | undefined): Promise<void> {
    await this.#send('UpdateItem', label, () =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: str(partition), sk: str(REVOCATION_HEAD_SK) },
          UpdateExpression: 'ADD version :one',
          ExpressionAttributeValues: { ':one': num(1) },
        }),
      ),
    );
  }

  /**
   * Every item of the namespace's partition under `prefix`; with `unmarkedKeysOnly`, only the
   * keys of the items whose `killedAt` is 0 (the token records a kill switch has to mark).
   */
  async #query(
    namespace: string,
    prefix: string,
    { unmarkedKeysOnly = false }: { unmarkedKeysOnly?: boolean } = {},
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const command = new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: {
          ':pk': str(tokenPartition(namespace)),
          ':prefix': str(prefix),
          ...(unmarkedKeysOnly ? { ':zero': num(0) } : {}),
        },
        ...(unmarkedKeysOnly
          ? { FilterExpression: 'killedAt = :zero', ProjectionExpression: '#pk, #sk' }
          : {}),
        ConsistentRead: true,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      });
      const page = await this.#send('Query', namespace, () => this.#client.send(command));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  async #send<T>(operation: string, namespace: string | undefined, send: () => Promise<T>): Promise<T> {
    try {
      return await retry(send, { label: `dynamodb.${operation}`, logger: this.#logger, ...this.#retry });
    } catch (error) {
      if (isConditionFailed(error) || error instanceof EggError) throw error;
      throw (
        identityProblem(error, `dynamodb:${operation}`, namespace) ??
        new EggError(
          'ERR_STORE_UNAVAILABLE',
          `dynamodb:${operation} failed on table ${this.#table} (${awsErrorName(error)})`,
          {
            cause: error,
            hint: 'check the network, the region and AWS_ENDPOINT_URL_DYNAMODB, then try again',
          },
        )
      );
    }
  }
}
