/**
 * The DynamoDB token store: items in the namespace's partition of the vault table (so
 * `dynamodb:LeadingKeys` confines them like the secrets), beside `S#`, `K#` and `A#`:
 * - `TK#<id>` a minted token's record (claims, never the token string);
 * - `RV#head` the revocation head: `version` (ADD 1 on every change), `notBefore`;
 * - `RV#t#<id>` a revoked token id, with `exp`;
 * - `SP#<id>` a spend counter: `ADD spent :cost` conditional on `spent <= cap - cost`.
 * Entries carry `expiresAt` (epoch seconds) for a table TTL to reap after expiry.
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
import type { RevocationState, SpendResult, TokenRecord, TokenStore } from './token-store.js';

type Item = Record<string, AttributeValue>;

export const TOKEN_PREFIX_SK = 'TK#';
export const REVOCATION_PREFIX_SK = 'RV#';
export const REVOCATION_HEAD_SK = 'RV#head';
export const REVOKED_PREFIX_SK = 'RV#t#';
export const SPEND_PREFIX_SK = 'SP#';

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

export class DynamoDbTokenStore implements TokenStore {
  readonly kind = 'dynamodb' as const;
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #logger: Logger;
  readonly #ownsClient: boolean;
  readonly #retry: NonNullable<DynamoDbTokenStoreOptions['retry']>;

  constructor(options: DynamoDbTokenStoreOptions) {
    this.#client = options.client;
    this.#table = options.table;
    this.#logger = options.logger ?? nullLogger;
    this.#ownsClient = options.ownsClient ?? false;
    this.#retry = options.retry ?? { attempts: 3, baseMs: 10, capMs: 100 };
  }

  async putToken(r: TokenRecord): Promise<void> {
    await this.#send('PutItem', r.namespace, () =>
      this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: str(r.namespace),
            sk: str(`${TOKEN_PREFIX_SK}${r.id}`),
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
            expiresAt: num(r.exp + 86400),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async listTokens(namespace: string) {
    const [tokens, state, spends] = await Promise.all([
      this.#query(namespace, TOKEN_PREFIX_SK),
      this.revocationState(namespace),
      this.#query(namespace, SPEND_PREFIX_SK),
    ]);
    const spent = new Map(
      spends.map((i) => [(i.sk?.S ?? '').slice(SPEND_PREFIX_SK.length), Number(i.spent?.N ?? 0)]),
    );
    return tokens.map((i) => {
      const id = (i.sk?.S ?? '').slice(TOKEN_PREFIX_SK.length);
      const iat = Number(i.iat?.N ?? 0);
      return {
        id,
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
        revoked: state.revoked.has(id) || iat < state.notBefore,
        spent: spent.get(id) ?? 0,
      };
    });
  }

  async revoke(namespace: string, entries: readonly { id: string; exp: number }[]): Promise<void> {
    // Entries first, head after: a reader that sees the new version finds every entry it counts.
    await Promise.all(
      entries.map(({ id, exp }) =>
        this.#send('PutItem', namespace, () =>
          this.#client.send(
            new PutItemCommand({
              TableName: this.#table,
              Item: {
                pk: str(namespace),
                sk: str(`${REVOKED_PREFIX_SK}${id}`),
                exp: num(exp),
                expiresAt: num(exp + 3600),
              },
            }),
          ),
        ),
      ),
    );
    await this.#bump(namespace);
  }

  async killSwitch(namespace: string, notBefore: number): Promise<number> {
    // The epoch only moves forward: set it when larger, always bump the version.
    try {
      await this.#send('UpdateItem', namespace, () =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: { pk: str(namespace), sk: str(REVOCATION_HEAD_SK) },
            UpdateExpression: 'SET notBefore = :nb ADD version :one',
            ConditionExpression: 'attribute_not_exists(notBefore) OR notBefore < :nb',
            ExpressionAttributeValues: { ':nb': num(notBefore), ':one': num(1) },
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      await this.#bump(namespace);
    }
    return (await this.revocationVersion(namespace)).notBefore;
  }

  async revocationVersion(namespace: string) {
    const { Item } = await this.#send('GetItem', namespace, () =>
      this.#client.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: { pk: str(namespace), sk: str(REVOCATION_HEAD_SK) },
          ConsistentRead: true,
        }),
      ),
    );
    return { version: Number(Item?.version?.N ?? 0), notBefore: Number(Item?.notBefore?.N ?? 0) };
  }

  async revocationState(namespace: string): Promise<RevocationState> {
    const items = await this.#query(namespace, REVOCATION_PREFIX_SK);
    const state: RevocationState = { version: 0, notBefore: 0, revoked: new Map() };
    for (const item of items) {
      const sk = item.sk?.S ?? '';
      if (sk === REVOCATION_HEAD_SK) {
        state.version = Number(item.version?.N ?? 0);
        state.notBefore = Number(item.notBefore?.N ?? 0);
      } else if (sk.startsWith(REVOKED_PREFIX_SK)) {
        state.revoked.set(sk.slice(REVOKED_PREFIX_SK.length), Number(item.exp?.N ?? 0));
      }
    }
    return state;
  }

  async reserveSpend(
    namespace: string,
    id: string,
    cost: number,
    cap: number,
    exp: number,
  ): Promise<SpendResult> {
    if (cost > cap) return { ok: false, spent: 0 };
    try {
      const { Attributes } = await this.#send('UpdateItem', namespace, () =>
        this.#client.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: { pk: str(namespace), sk: str(`${SPEND_PREFIX_SK}${id}`) },
            // DynamoDB conditions cannot add, so `spent + cost <= cap` is written `spent <= cap - cost`.
            UpdateExpression: 'ADD spent :c SET expiresAt = :e',
            ConditionExpression: 'attribute_not_exists(spent) OR spent <= :max',
            ExpressionAttributeValues: { ':c': num(cost), ':max': num(cap - cost), ':e': num(exp + 3600) },
            ReturnValues: 'UPDATED_NEW',
          }),
        ),
      );
      return { ok: true, spent: Number(Attributes?.spent?.N ?? cost) };
    } catch (error) {
      if (isConditionFailed(error)) return { ok: false, spent: cap };
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  async #bump(namespace: string): Promise<void> {
    await this.#send('UpdateItem', namespace, () =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: str(namespace), sk: str(REVOCATION_HEAD_SK) },
          UpdateExpression: 'ADD version :one',
          ExpressionAttributeValues: { ':one': num(1) },
        }),
      ),
    );
  }

  async #query(namespace: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const command = new QueryCommand({
        TableName: this.#table,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: { ':pk': str(namespace), ':prefix': str(prefix) },
        ConsistentRead: true,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      });
      const page = await this.#send('Query', namespace, () => this.#client.send(command));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  async #send<T>(operation: string, namespace: string, send: () => Promise<T>): Promise<T> {
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
