/**
 * The DynamoDB side of the usage port (usage-store.ts), run by `DynamoDbTokenStore` through
 * its own retries and error translation. Items:
 * - `usage#<namespace>` `U#<id>#<window>`: one token's counters in one minute (`window`
 *   zero-padded to 10 digits, so a Query walks a token's windows in order), with
 *   `expiresAt` a day after the window. The only items here that a table TTL reaps, and the
 *   only partition where the proxy may write `expiresAt` (infra/ttl.ts): its own partition,
 *   so a proxy that may reap counters still cannot reap a revocation. A token with client
 *   limits also has `clients` there: a string set of its clients' address digests
 *   (`ADD` is a set union), at most `--max-clients` × the proxies (proxy/client-limits.ts).
 * - `tokens#<namespace>` `RV#head`, attribute `th#<id>`: a token's throttle (`rule`, `rps`,
 *   `since`, `until`), on the revocation head itself, so setting or lifting one is one
 *   conditional UpdateItem that also bumps the head's version (no transaction: every role's
 *   TTL deny refuses them, infra/ttl.ts), and every proxy sees it at its next poll, in the
 *   Query that reads the revocations. A throttle that has ended is removed from the head by
 *   the next throttle set in the namespace (conditional on its having ended), so the head
 *   holds about as many as are in force. Throttles are not items of their own, so nothing
 *   needs a TTL the proxy could not write in `tokens#` (before, they were `RV#th#<id>` items,
 *   which never expired; those still in force are still read and lifted).
 * - `tokens#<namespace>` `AC#<id>`: an alert channel (a webhook's secret sealed; a removed one keeps
 *   only `removedAt`, since a minting role may update token items but not delete them);
 *   `AL#<time>#<id>`: an alert as raised; `AR#rules`: the namespace's rule overrides. Kept,
 *   as the audit trail is: no `expiresAt`.
 *
 * Cost (docs/alerts.md): a batch of n tokens is ⌈n/100⌉ BatchGetItem of their records (which
 * also drops ids nobody minted, before anything is written), n UpdateItem `ADD` on the
 * counters, and once per token and minute a Query of its hour before (the baseline, which
 * does not change within a window). The proxy sends one batch a second, whatever the rate.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { isConditionFailed } from '../aws/errors.js';
import {
  type AlertChannelRecord,
  type AlertRecord,
  channelKind,
  emptyCounts,
  type RuleOverrides,
  type Throttle,
  USAGE_FIELDS,
  USAGE_KEEP_SECONDS,
  USAGE_WINDOW_SECONDS,
  type UsageCounts,
  type UsageTotals,
  type UsageWindow,
} from './usage-store.js';

type Item = Record<string, AttributeValue>;

export const USAGE_PREFIX_SK = 'U#';
/** Legacy throttle items (before throttles moved onto the head): read and lifted, never written. */
export const THROTTLE_PREFIX_SK = 'RV#th#';
/** A namespace's revocation head (dynamodb-token-store.ts). */
export const REVOCATION_HEAD_SK = 'RV#head';
/** The head's attribute of token `id`'s throttle. */
export const THROTTLE_ATTRIBUTE_PREFIX = 'th#';
/** Ended throttles removed from the head with one new throttle, at most. */
const MAX_REMOVED = 20;
export const CHANNEL_PREFIX_SK = 'AC#';
export const ALERT_PREFIX_SK = 'AL#';
export const RULES_SK = 'AR#rules';
/** The partition of a namespace's usage counters. */
export const usagePartition = (namespace: string): string => `usage#${namespace}`;

const num = (n: number): AttributeValue => ({ N: String(n) });
const str = (s: string): AttributeValue => ({ S: s });
const windowKey = (id: string, window: number) =>
  `${USAGE_PREFIX_SK}${id}#${String(Math.max(0, window)).padStart(10, '0')}`;
/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;
/** Baselines kept between batches (one per token and window). */
const MAX_BASELINES = 10_000;

/** What the adapter runs its calls through: DynamoDbTokenStore's retries and error translation. */
export type Send = <T>(operation: string, namespace: string, call: () => Promise<T>) => Promise<T>;

export interface DynamoDbUsageOptions {
  client: DynamoDBClient;
  table: string;
  send: Send;
  /** The partition of the namespace's token records and revocation head. */
  tokenPartition: (namespace: string) => string;
  /** `ADD version 1` on the revocation head. */
  bump: (namespace: string) => Promise<void>;
}

export class DynamoDbUsage {
  readonly #o: DynamoDbUsageOptions;
  /** `<namespace>\n<id>\n<window>` → that window's baseline. */
  readonly #baselines = new Map<string, { windows: number; requests: number }>();
  /** Per namespace: the throttles its head held, ended, at this store's last throttle write. */
  readonly #ended = new Map<string, string[]>();

  constructor(options: DynamoDbUsageOptions) {
    this.#o = options;
  }

  async add(deltas: readonly UsageWindow[]): Promise<UsageTotals[]> {
    const records = await this.#records(deltas);
    const totals = await Promise.all(
      deltas.map(async (d): Promise<UsageTotals | undefined> => {
        const record = records.get(`${d.namespace}\n${d.id}`);
        if (record === undefined) return undefined;
        const [{ counts, clients }, baseline] = await Promise.all([this.#addOne(d), this.#baseline(d)]);
        return {
          namespace: d.namespace,
          id: d.id,
          window: d.window,
          counts,
          baseline,
          rps: Number(record.rps?.N ?? 0),
          cap: Number(record.spend?.N ?? 0),
          spent: Number(record.spent?.N ?? 0),
          exp: Number(record.exp?.N ?? 0),
          ...(d.clients === undefined ? {} : { clients }),
        };
      }),
    );
    return totals.filter((t) => t !== undefined);
  }

  async read(namespace: string, ids: readonly string[], since: number): Promise<UsageWindow[]> {
    const from = since - (since % USAGE_WINDOW_SECONDS);
    const ranges =
      ids.length === 0
        ? [{ low: USAGE_PREFIX_SK, high: `${USAGE_PREFIX_SK}\uffff` }]
        : ids.map((id) => ({ low: windowKey(id, from), high: `${USAGE_PREFIX_SK}${id}#\uffff` }));
    const pages = await Promise.all(
      ranges.map(({ low, high }) =>
        this.#query(namespace, usagePartition(namespace), {
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :low AND :high',
          ExpressionAttributeValues: { ':low': str(low), ':high': str(high) },
        }),
      ),
    );
    return pages
      .flat()
      .map((item) => windowOf(namespace, item))
      .filter((w) => w.window >= from)
      .sort((a, b) => (a.id === b.id ? a.window - b.window : a.id < b.id ? -1 : 1));
  }

  /**
   * One conditional UpdateItem on the head: the throttle and the version bump together. A
   * throttle in force at `since` stays as it is (one anomaly, one throttle, one alert); so
   * does a legacy `RV#th#` item in force, read first only when the head holds no throttle.
   * Ended throttles on the head (as its last write showed) go with it, each only if still ended.
   */
  async setThrottle(namespace: string, id: string, t: Throttle): Promise<boolean> {
    if (((await this.#legacyThrottles(namespace)).get(id)?.until ?? 0) > t.since) return false;
    const ended = [...(this.#ended.get(namespace) ?? [])].filter((e) => e !== id).slice(0, MAX_REMOVED);
    const names: Record<string, string> = { '#th': `${THROTTLE_ATTRIBUTE_PREFIX}${id}`, '#until': 'until' };
    ended.forEach((e, i) => (names[`#e${i}`] = `${THROTTLE_ATTRIBUTE_PREFIX}${e}`));
    const write = (remove: readonly string[]) =>
      this.#o.send('UpdateItem', namespace, () =>
        this.#o.client.send(
          new UpdateItemCommand({
            TableName: this.#o.table,
            Key: { pk: str(this.#o.tokenPartition(namespace)), sk: str(REVOCATION_HEAD_SK) },
            UpdateExpression: `SET #th = :throttle ADD version :one${remove.length > 0 ? ` REMOVE ${remove.map((_, i) => `#e${i}`).join(', ')}` : ''}`,
            ConditionExpression: [
              '(attribute_not_exists(#th) OR #th.#until <= :since)',
              ...remove.map((_, i) => `(attribute_not_exists(#e${i}) OR #e${i}.#until <= :since)`),
            ].join(' AND '),
            ExpressionAttributeNames: Object.fromEntries(
              Object.entries(names).filter(
                ([k]) => !k.startsWith('#e') || Number(k.slice(2)) < remove.length,
              ),
            ),
            ExpressionAttributeValues: {
              ':throttle': {
                M: { rule: str(t.rule), rps: num(t.rps), since: num(t.since), until: num(t.until) },
              },
              ':one': num(1),
              ':since': num(t.since),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
    let written;
    try {
      written = await write(ended);
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // Another proxy set this throttle, or set again one this write would have removed.
      this.#ended.delete(namespace);
      if (ended.length === 0) return false;
      try {
        written = await write([]);
      } catch (again) {
        if (isConditionFailed(again)) return false;
        throw again;
      }
    }
    this.#remember(namespace, written.Attributes ?? {}, t.since);
    return true;
  }

  /** The throttles on the head that had ended at `now`, for the namespace's next throttle to remove. */
  #remember(namespace: string, head: Item, now: number): void {
    const ended = [...headThrottles(head)].filter(([, t]) => t.until <= now).map(([id]) => id);
    if (this.#ended.size >= MAX_BASELINES) this.#ended.clear();
    if (ended.length > 0) this.#ended.set(namespace, ended);
    else this.#ended.delete(namespace);
  }

  async liftThrottle(namespace: string, id: string, now: number): Promise<boolean> {
    try {
      await this.#update(namespace, REVOCATION_HEAD_SK, {
        UpdateExpression: 'SET #th.#until = :now ADD version :one',
        // False when the head holds no such throttle: nothing is created.
        ConditionExpression: '#th.#until > :now',
        ExpressionAttributeNames: { '#th': `${THROTTLE_ATTRIBUTE_PREFIX}${id}`, '#until': 'until' },
        ExpressionAttributeValues: { ':now': num(now), ':one': num(1) },
      });
      return true;
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    return this.#liftLegacy(namespace, id, now);
  }

  /** Lift a legacy `RV#th#` throttle item (and bump the head). */
  async #liftLegacy(namespace: string, id: string, now: number): Promise<boolean> {
    try {
      await this.#update(namespace, `${THROTTLE_PREFIX_SK}${id}`, {
        UpdateExpression: 'SET #until = :now',
        // `until > :now` is false on a missing item: nothing is created.
        ConditionExpression: '#until > :now',
        ExpressionAttributeNames: { '#until': 'until' },
        ExpressionAttributeValues: { ':now': num(now) },
      });
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
    await this.#o.bump(namespace);
    return true;
  }

  async throttles(namespace: string): Promise<Map<string, Throttle>> {
    const [legacy, [head]] = await Promise.all([
      this.#legacyThrottles(namespace),
      this.#query(namespace, this.#o.tokenPartition(namespace), {
        KeyConditionExpression: '#pk = :pk AND #sk = :sk',
        ExpressionAttributeValues: { ':sk': str(REVOCATION_HEAD_SK) },
      }),
    ]);
    return new Map([...legacy, ...headThrottles(head ?? {})]);
  }

  /** Legacy `RV#th#` items (none are written any more). */
  async #legacyThrottles(namespace: string): Promise<Map<string, Throttle>> {
    const items = await this.#query(namespace, this.#o.tokenPartition(namespace), {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeValues: { ':prefix': str(THROTTLE_PREFIX_SK) },
    });
    return new Map(items.map(throttleEntry));
  }

  async putChannel(c: AlertChannelRecord): Promise<void> {
    await this.#o.send('PutItem', c.namespace, () =>
      this.#o.client.send(
        new PutItemCommand({
          TableName: this.#o.table,
          Item: {
            pk: str(this.#o.tokenPartition(c.namespace)),
            sk: str(`${CHANNEL_PREFIX_SK}${c.id}`),
            kind: str(c.kind),
            url: str(c.url),
            ...(c.sealed === '' ? {} : { sealed: str(c.sealed) }),
            createdAt: str(c.createdAt),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }

  async removeChannel(namespace: string, id: string): Promise<boolean> {
    try {
      await this.#update(namespace, `${CHANNEL_PREFIX_SK}${id}`, {
        UpdateExpression: 'SET removedAt = :now REMOVE sealed, #url',
        // False on a missing item and on one removed before: nothing is created. (`url`, not
        // `sealed`: an SNS or EventBridge channel seals no secret.)
        ConditionExpression: 'attribute_exists(#url)',
        ExpressionAttributeNames: { '#url': 'url' },
        ExpressionAttributeValues: { ':now': str(new Date().toISOString()) },
      });
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  async ruleOverrides(namespace: string): Promise<RuleOverrides> {
    const [item] = await this.#query(namespace, this.#o.tokenPartition(namespace), {
      KeyConditionExpression: '#pk = :pk AND #sk = :sk',
      ExpressionAttributeValues: { ':sk': str(RULES_SK) },
    });
    return JSON.parse(item?.overrides?.S ?? '{}') as RuleOverrides;
  }

  async putRuleOverrides(namespace: string, overrides: RuleOverrides): Promise<void> {
    await this.#update(namespace, RULES_SK, {
      UpdateExpression: 'SET overrides = :overrides',
      ExpressionAttributeValues: { ':overrides': str(JSON.stringify(overrides)) },
    });
  }

  async channels(namespace: string): Promise<AlertChannelRecord[]> {
    const items = await this.#query(namespace, this.#o.tokenPartition(namespace), {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      FilterExpression: 'attribute_not_exists(removedAt)',
      ExpressionAttributeValues: { ':prefix': str(CHANNEL_PREFIX_SK) },
    });
    return items
      .map((i) => ({
        namespace,
        id: (i.sk?.S ?? '').slice(CHANNEL_PREFIX_SK.length),
        kind: channelKind(i.kind?.S),
        url: i.url?.S ?? '',
        sealed: i.sealed?.S ?? '',
        createdAt: i.createdAt?.S ?? '',
      }))
      .sort((a, b) => (a.createdAt === b.createdAt ? cmp(a.id, b.id) : cmp(a.createdAt, b.createdAt)));
  }

  async recordAlert(a: AlertRecord): Promise<void> {
    // UpdateItem, not PutItem: the proxy records alerts, and may update token items but not put them.
    await this.#update(a.namespace, `${ALERT_PREFIX_SK}${a.time}#${a.id}`, {
      UpdateExpression: 'SET tokenId = :token, #rule = :rule, figures = :figures, #time = :time',
      ConditionExpression: 'attribute_not_exists(pk)',
      ExpressionAttributeNames: { '#rule': 'rule', '#time': 'time' },
      ExpressionAttributeValues: {
        ':token': str(a.tokenId),
        ':rule': str(a.rule),
        ':figures': str(JSON.stringify(a.figures)),
        ':time': str(a.time),
      },
    });
  }

  async alerts(namespace: string, limit: number): Promise<AlertRecord[]> {
    const items = await this.#query(
      namespace,
      this.#o.tokenPartition(namespace),
      {
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeValues: { ':prefix': str(ALERT_PREFIX_SK) },
        ScanIndexForward: false,
      },
      limit,
    );
    return items.map((i) => {
      const sk = i.sk?.S ?? '';
      return {
        namespace,
        id: sk.slice(sk.lastIndexOf('#') + 1),
        tokenId: i.tokenId?.S ?? '',
        rule: i.rule?.S ?? '',
        figures: JSON.parse(i.figures?.S ?? '{}') as Record<string, number>,
        time: i.time?.S ?? '',
      };
    });
  }

  /** The records of the batch's tokens that exist (rps, cap, spent, exp), by `<namespace>\n<id>`. */
  async #records(deltas: readonly UsageWindow[]): Promise<Map<string, Item>> {
    const keys = [
      ...new Map(
        deltas.map((d) => [`${d.namespace}\n${d.id}`, { namespace: d.namespace, id: d.id }]),
      ).values(),
    ];
    const found = new Map<string, Item>();
    const chunks: (typeof keys)[] = [];
    for (let at = 0; at < keys.length; at += BATCH_GET_KEYS) chunks.push(keys.slice(at, at + BATCH_GET_KEYS));
    await Promise.all(
      chunks.map(async (chunk) => {
        let request: Item[] = chunk.map((k) => ({
          pk: str(this.#o.tokenPartition(k.namespace)),
          sk: str(`TK#${k.id}`),
        }));
        // Unprocessed keys (throttling) are asked again; the send's retry bounds each call.
        while (request.length > 0) {
          const keysNow = request;
          const page = await this.#o.send('BatchGetItem', chunk[0]!.namespace, () =>
            this.#o.client.send(
              new BatchGetItemCommand({
                RequestItems: {
                  [this.#o.table]: {
                    Keys: keysNow,
                    ConsistentRead: true,
                    ProjectionExpression: 'pk, sk, rps, #spend, spent, #exp',
                    ExpressionAttributeNames: { '#spend': 'spend', '#exp': 'exp' },
                  },
                },
              }),
            ),
          );
          for (const item of page.Responses?.[this.#o.table] ?? []) {
            const namespace = (item.pk?.S ?? '').slice((item.pk?.S ?? '').indexOf('#') + 1);
            found.set(`${namespace}\n${(item.sk?.S ?? '').slice('TK#'.length)}`, item);
          }
          request = page.UnprocessedKeys?.[this.#o.table]?.Keys ?? [];
        }
      }),
    );
    return found;
  }

  /** Add one delta to its window's counters (and clients); the window's totals from every proxy. */
  async #addOne(d: UsageWindow): Promise<{ counts: UsageCounts; clients: string[] }> {
    const adds = USAGE_FIELDS.map((_, i) => `#c${i} :c${i}`);
    const names: Record<string, string> = Object.fromEntries(USAGE_FIELDS.map((f, i) => [`#c${i}`, f]));
    const values: Item = Object.fromEntries(USAGE_FIELDS.map((f, i) => [`:c${i}`, num(d[f])]));
    // An empty set cannot be written: a delta with no new clients only reads the set back.
    if (d.clients !== undefined && d.clients.length > 0) {
      adds.push('#clients :clients');
      names['#clients'] = 'clients';
      values[':clients'] = { SS: [...new Set(d.clients)] };
    }
    const { Attributes } = await this.#o.send('UpdateItem', d.namespace, () =>
      this.#o.client.send(
        new UpdateItemCommand({
          TableName: this.#o.table,
          Key: { pk: str(usagePartition(d.namespace)), sk: str(windowKey(d.id, d.window)) },
          UpdateExpression: `SET expiresAt = :expires ADD ${adds.join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...values, ':expires': num(d.window + USAGE_KEEP_SECONDS) },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return { counts: countsOf(Attributes ?? {}), clients: [...(Attributes?.clients?.SS ?? [])].sort() };
  }

  /** The hour before the window: one Query per token and window, kept until the window ends. */
  async #baseline(d: UsageWindow): Promise<{ windows: number; requests: number }> {
    const key = `${d.namespace}\n${d.id}\n${d.window}`;
    const known = this.#baselines.get(key);
    if (known !== undefined) return known;
    const items = await this.#query(d.namespace, usagePartition(d.namespace), {
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :low AND :high',
      FilterExpression: 'requests > :zero',
      ProjectionExpression: 'requests',
      ExpressionAttributeValues: {
        ':low': str(windowKey(d.id, d.window - 3600)),
        ':high': str(windowKey(d.id, d.window - 1)),
        ':zero': num(0),
      },
    });
    const baseline = {
      windows: items.length,
      requests: items.reduce((sum, i) => sum + Number(i.requests?.N ?? 0), 0),
    };
    if (this.#baselines.size >= MAX_BASELINES) this.#baselines.clear();
    this.#baselines.set(key, baseline);
    return baseline;
  }

  async #update(
    namespace: string,
    sk: string,
    command: Omit<ConstructorParameters<typeof UpdateItemCommand>[0], 'TableName' | 'Key'>,
  ): Promise<void> {
    await this.#o.send('UpdateItem', namespace, () =>
      this.#o.client.send(
        new UpdateItemCommand({
          TableName: this.#o.table,
          Key: { pk: str(this.#o.tokenPartition(namespace)), sk: str(sk) },
          ...command,
        }),
      ),
    );
  }

  /** Every item of `partition` the key condition picks (`#pk`, `#sk` and `:pk` are filled in). */
  async #query(
    namespace: string,
    partition: string,
    query: {
      KeyConditionExpression: string;
      ExpressionAttributeValues: Item;
      FilterExpression?: string;
      ProjectionExpression?: string;
      ScanIndexForward?: boolean;
    },
    limit?: number,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const command = new QueryCommand({
        TableName: this.#o.table,
        ...query,
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: { ':pk': str(partition), ...query.ExpressionAttributeValues },
        ConsistentRead: true,
        ...(limit === undefined ? {} : { Limit: limit - items.length }),
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      });
      const page = await this.#o.send('Query', namespace, () => this.#o.client.send(command));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined && (limit === undefined || items.length < limit));
    return items;
  }
}

/** The throttles on a revocation head (`th#<id>` attributes), by token id. */
export function headThrottles(head: Item): Map<string, Throttle> {
  const throttles = new Map<string, Throttle>();
  for (const [name, value] of Object.entries(head)) {
    if (!name.startsWith(THROTTLE_ATTRIBUTE_PREFIX) || value.M === undefined) continue;
    const t = value.M;
    throttles.set(name.slice(THROTTLE_ATTRIBUTE_PREFIX.length), {
      rule: t.rule?.S ?? '',
      rps: Number(t.rps?.N ?? 0),
      since: Number(t.since?.N ?? 0),
      until: Number(t.until?.N ?? 0),
    });
  }
  return throttles;
}

/** A legacy `RV#th#<id>` item as `[id, throttle]` (revocationState reads them with the revocations). */
export function throttleEntry(item: Item): [string, Throttle] {
  return [
    (item.sk?.S ?? '').slice(THROTTLE_PREFIX_SK.length),
    {
      rule: item.rule?.S ?? '',
      rps: Number(item.rps?.N ?? 0),
      since: Number(item.since?.N ?? 0),
      until: Number(item.until?.N ?? 0),
    },
  ];
}

function windowOf(namespace: string, item: Item): UsageWindow {
  const sk = item.sk?.S ?? '';
  const cut = sk.lastIndexOf('#');
  return {
    namespace,
    id: sk.slice(USAGE_PREFIX_SK.length, cut),
    window: Number(sk.slice(cut + 1)),
    ...countsOf(item),
  };
}

function countsOf(item: Item): UsageCounts {
  const counts = emptyCounts();
  for (const f of USAGE_FIELDS) counts[f] = Number(item[f]?.N ?? 0);
  return counts;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
