/**
 * The DynamoDB store: one table, partition key `pk`, sort key `sk`. The namespace's own
 * partition (`pk` = the namespace) holds `S#<name>` secrets and `K#namespace` its KEK; its
 * audit records, `A#<seq, 12 digits>`, live in the partition `audit#<namespace>`. IAM's
 * `dynamodb:LeadingKeys` confines a role per partition, so a read-only CI role can append
 * to its audit trail without being able to write a secret (DESIGN, Crypto: deferred rotation).
 * The trail's signed checkpoints, `C#<seq, 12 digits>`, live in `anchor#<namespace>`, which
 * only the rotator may write (readers may read it). docs/dynamodb.md documents the items and which calls each vault operation makes.
 *
 * Semantics match the SQLite store: reads are strongly consistent, every write is
 * conditional (a failed condition is `false`), audit records are only ever added.
 * Transient failures retry through `retry()`; everything else becomes an `EggError`.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { awsErrorName, identityProblem, isConditionFailed } from '../aws/errors.js';
import { DecryptionFailed, EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { isNamespace } from '../names.js';
import { isTransient, mapLimit, type RetryOptions, retry, sleep } from '../retry.js';
import type {
  AuditCheckpoint,
  AuditRecord,
  CallCountStore,
  MemberRecord,
  MemberRole,
  MemberStore,
  NamespaceCount,
  NamespaceKeyItem,
  SecretItem,
  SecretStore,
  SecretWrite,
  WriteCondition,
} from './store.js';
import { MEMBER_ROLES } from './store.js';

type Item = Record<string, AttributeValue>;

export const SECRET_PREFIX = 'S#';
export const NAMESPACE_KEY_SK = 'K#namespace';
/** The marker of a namespace that exists without a secret (`markNamespace`). */
export const NAMESPACE_MARKER_SK = 'N#namespace';
export const AUDIT_PREFIX = 'A#';
/** Kept versions of secrets: `V#<name>#<rev, 12 digits>` beside the secret, in its namespace's partition. */
export const VERSION_PREFIX = 'V#';
export const versionSortKey = (name: string, rev: number): string =>
  `${VERSION_PREFIX}${name}#${String(rev).padStart(12, '0')}`;
/** TransactWriteItems takes at most 100 actions (DynamoDB API Reference, TransactWriteItems). */
export const TRANSACTION_MAX_ITEMS = 100;
/** How many secrets of one `putSecrets` are written at once. */
const WRITE_CONCURRENCY = 16;
/** The attribute a table's TTL reaps items by: token records and revocations carry it. */
export const TTL_ATTRIBUTE = 'expiresAt';
/** BatchGetItem takes at most 100 keys a call (DynamoDB API Reference, BatchGetItem). */
const BATCH_GET_MAX = 100;
/** Rounds of UnprocessedKeys before giving up on a throttled batch. */
const UNPROCESSED_ATTEMPTS = 8;
/** Rounds of a lost audit-head race across processes before giving up. */
const AUDIT_ATTEMPTS = 50;

/** The partition of a namespace's audit trail (`#` never occurs in a namespace, so none collide). */
export const auditPartition = (namespace: string): string => `${AUDIT_PARTITION_PREFIX}${namespace}`;
export const AUDIT_PARTITION_PREFIX = 'audit#';
export const auditSortKey = (seq: number): string => `${AUDIT_PREFIX}${String(seq).padStart(12, '0')}`;
/** The partition of a namespace's signed audit checkpoints: written by the rotator, read by anyone who verifies. */
export const ANCHOR_PARTITION_PREFIX = 'anchor#';
export const anchorPartition = (namespace: string): string => `${ANCHOR_PARTITION_PREFIX}${namespace}`;
export const CHECKPOINT_PREFIX = 'C#';
export const checkpointSortKey = (seq: number): string =>
  `${CHECKPOINT_PREFIX}${String(seq).padStart(12, '0')}`;

/**
 * Members of a namespace (the service mode): `M#<principal>` items in `members#<namespace>`,
 * with `O#owner` there as the lock that makes one claim win; each member also has an item
 * `N#<namespace>` in `principal#<principal>`, so "my namespaces" is one Query. Only the API's
 * role writes these partitions (no grant's `dynamodb:LeadingKeys` names them).
 */
export const membersPartition = (namespace: string): string => `members#${namespace}`;
export const principalPartition = (principal: string): string => `principal#${principal}`;
export const MEMBER_PREFIX = 'M#';
export const OWNER_SK = 'O#owner';
const MEMBERSHIP_PREFIX = 'N#';
/**
 * The service API's call counts (src/api/throttle.ts): `W#<window, 12 digits>` counters and
 * `R#last` (the last refused window) in `calls#<principal>`, each with `expiresAt`, so the
 * table's TTL reaps them. Only the API's role writes here (UpdateItem, the one partition
 * beside `tokens#` where its TTL deny lets it write `expiresAt`: infra/ttl.ts).
 */
export const CALLS_PARTITION_PREFIX = 'calls#';
export const callsPartition = (principal: string): string => `${CALLS_PARTITION_PREFIX}${principal}`;
export const callWindowSortKey = (window: number): string => `W#${String(window).padStart(12, '0')}`;
export const LAST_REFUSED_SK = 'R#last';

/** Rounds of a transaction that another transaction held (TransactionConflict) before giving up. */
const TRANSACT_ATTEMPTS = 8;

export interface DynamoDbStoreOptions {
  client: DynamoDBClient;
  table: string;
  logger?: Logger;
  /** Destroy `client` on `close()` (when the store built or was handed it alone). */
  ownsClient?: boolean;
  /** Backoff knobs, swappable for tests. */
  retry?: Pick<RetryOptions, 'attempts' | 'baseMs' | 'capMs' | 'sleep' | 'random'>;
}

export class DynamoDbStore implements SecretStore, MemberStore, CallCountStore {
  readonly kind = 'dynamodb' as const;
  readonly table: string;
  readonly #client: DynamoDBClient;
  readonly #logger: Logger;
  readonly #ownsClient: boolean;
  readonly #retry: NonNullable<DynamoDbStoreOptions['retry']>;
  /** The last audit head seen per namespace: saves the head Query on the next append. */
  readonly #heads = new Map<string, AuditRecord | null>();
  /** Appends in this process queue per namespace, so they never race each other. */
  readonly #appending = new Map<string, Promise<unknown>>();

  constructor(options: DynamoDbStoreOptions) {
    this.#client = options.client;
    this.table = options.table;
    this.#logger = options.logger ?? nullLogger;
    this.#ownsClient = options.ownsClient ?? false;
    this.#retry = options.retry ?? {};
  }

  async getSecrets(namespace: string, names?: readonly string[]): Promise<SecretItem[]> {
    if (names === undefined) {
      const items = await this.#query('Query', namespace, {
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: { ':pk': { S: namespace }, ':prefix': { S: SECRET_PREFIX } },
      });
      return items.map((item) => toSecret(namespace, item));
    }
    const unique = [...new Set(names)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_GET_MAX) chunks.push(unique.slice(i, i + BATCH_GET_MAX));
    const results = await Promise.all(chunks.map((chunk) => this.#batchGet(namespace, chunk)));
    return results.flat();
  }

  async putSecret(item: SecretItem, condition: WriteCondition): Promise<boolean> {
    const input: PutItemCommandInput = {
      TableName: this.table,
      Item: fromSecret(item),
      ...conditionOf(condition),
    };
    return this.#conditional('PutItem', item.namespace, () => this.#client.send(new PutItemCommand(input)));
  }

  /**
   * Every write, or none, without a transaction: infra/ttl.ts refuses every write whose
   * request names no attributes, which is how IAM sees a transaction's items, so a grant role
   * may write items only one by one (`#putOne` says how one goes). Up to `WRITE_CONCURRENCY`
   * at once, each as its kept version and then its item on its condition; the versions past
   * what the namespace keeps are dropped only once every write has landed. When one fails (a
   * condition: `false`, and the caller reads again; anything else: thrown), no more are
   * started, and those already written are put back as they were read (`#undo`), so the
   * namespace is as before. Not atomic to readers: a read meanwhile may see some written and
   * others not. A process that dies part-way leaves what it wrote: the same batch, built
   * again from a new read, finishes it (values already there are left as they are).
   */
  async putSecrets(writes: readonly SecretWrite[]): Promise<boolean> {
    if (writes.length === 0) return true;
    if (writes.length === 1) return this.#putOne(writes[0] as SecretWrite);
    let failure: { error?: unknown } | undefined;
    const outcomes = await mapLimit(writes, WRITE_CONCURRENCY, async (write) => {
      if (failure !== undefined) return false;
      try {
        const written = await this.#putItem(write);
        if (!written) failure ??= {};
        return written;
      } catch (error) {
        failure ??= { error };
        return false;
      }
    });
    if (failure === undefined) {
      for (const write of writes) await this.#dropVersions(write);
      return true;
    }
    await this.#undo(writes.filter((_, i) => outcomes[i] === true));
    if (failure.error !== undefined) throw failure.error;
    return false;
  }

  /**
   * Put back, newest first, what `written` replaced: an added secret is deleted, a changed or
   * rotated one is written again as it was read (`previous`; the version it kept is then
   * deleted), each only while it is still what this batch wrote. One that another writer
   * changed since, or that cannot be written, stays: an ERR_CONFLICT names them.
   */
  async #undo(written: readonly SecretWrite[]): Promise<void> {
    const stuck: string[] = [];
    for (const { item, condition, keep, previous } of [...written].reverse()) {
      const ours = conditionOf({ kind: 'rev-gen', rev: item.rev, gen: item.gen });
      const was = previous ?? keep;
      try {
        const undone =
          condition.kind === 'absent'
            ? await this.#conditional('DeleteItem', item.namespace, () =>
                this.#client.send(
                  new DeleteItemCommand({
                    TableName: this.table,
                    Key: secretKey(item.namespace, item.name),
                    ...ours,
                  }),
                ),
              )
            : was !== undefined &&
              (await this.putSecret(was, { kind: 'rev-gen', rev: item.rev, gen: item.gen }));
        if (!undone) {
          stuck.push(item.name);
          continue;
        }
        if (keep !== undefined) await this.#unkeep(keep);
      } catch (error) {
        this.#logger.warn('secret.undo_failed', {
          namespace: item.namespace,
          name: item.name,
          error: error instanceof Error ? error.name : 'unknown',
        });
        stuck.push(item.name);
      }
    }
    if (stuck.length > 0)
      throw new EggError(
        'ERR_CONFLICT',
        `a write failed part-way, and ${stuck.length === 1 ? 'this secret' : 'these secrets'} could not be put back as ${stuck.length === 1 ? 'it was' : 'they were'}: ${stuck.sort().join(', ')}`,
        { hint: 'run the same import again to finish it' },
      );
  }

  /** One Query of at most one key in the namespace's partition: a secret, its KEK or its marker. */
  async hasNamespace(namespace: string): Promise<boolean> {
    const command = new QueryCommand({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': { S: namespace } },
      ProjectionExpression: '#pk, #sk',
      Limit: 1,
      ConsistentRead: true,
    });
    const { Items } = await this.#send('Query', namespace, () => this.#client.send(command));
    return (Items ?? []).length > 0;
  }

  async markNamespace(namespace: string): Promise<void> {
    const command = new PutItemCommand({
      TableName: this.table,
      Item: namespaceMarker(namespace),
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    });
    await this.#conditional('PutItem', namespace, () => this.#client.send(command));
  }

  /**
   * A Scan of the keys of secrets, namespace KEKs and markers (the table has no index by
   * namespace). IAM's `dynamodb:LeadingKeys` cannot allow a Scan, so a role confined to its
   * namespaces is refused: that is said, never guessed around.
   */
  async listNamespaces(): Promise<NamespaceCount[]> {
    const counts = new Map<string, number>();
    let start: Item | undefined;
    do {
      const command = new ScanCommand({
        TableName: this.table,
        ProjectionExpression: '#pk, #sk',
        FilterExpression: 'begins_with(#sk, :secret) OR #sk = :kek OR #sk = :marker',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: {
          ':secret': { S: SECRET_PREFIX },
          ':kek': { S: NAMESPACE_KEY_SK },
          ':marker': { S: NAMESPACE_MARKER_SK },
        },
        ConsistentRead: true,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      });
      let page;
      try {
        page = await retry(() => this.#client.send(command), {
          label: 'dynamodb.Scan',
          logger: this.#logger,
          ...this.#retry,
        });
      } catch (error) {
        throw this.#scanRefused(error) ?? this.#translate(error, 'Scan', '*');
      }
      for (const item of page.Items ?? []) {
        const namespace = item.pk?.S;
        if (namespace === undefined || !isNamespace(namespace)) continue;
        const secret = item.sk?.S?.startsWith(SECRET_PREFIX) === true ? 1 : 0;
        counts.set(namespace, (counts.get(namespace) ?? 0) + secret);
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return [...counts]
      .map(([namespace, secrets]) => ({ namespace, secrets }))
      .sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
  }

  #scanRefused(error: unknown): EggError | undefined {
    const name = awsErrorName(error);
    if (name !== 'AccessDeniedException' && name !== 'AccessDenied') return undefined;
    return new EggError(
      'ERR_ACCESS_DENIED',
      `this role may not scan table ${this.table} (dynamodb:Scan), so egg cannot list its namespaces`,
      {
        cause: error,
        hint: 'a role confined to its namespaces never may; ask for the namespace by name, or use a role allowed dynamodb:Scan on the table',
      },
    );
  }

  /**
   * A secret without kept versions: one conditional DeleteItem. With versions: one
   * TransactWriteItems deleting the secret (conditional on its being there) and its versions,
   * so none outlives it; versions past what one transaction holds go right after.
   */
  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    const revs = (await this.versionRevs(namespace, [name])).get(name) ?? [];
    const current = {
      TableName: this.table,
      Key: secretKey(namespace, name),
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    };
    if (revs.length === 0)
      return this.#conditional('DeleteItem', namespace, () =>
        this.#client.send(new DeleteItemCommand(current)),
      );
    const together = revs.slice(0, TRANSACTION_MAX_ITEMS - 1);
    const command = new TransactWriteItemsCommand({
      ClientRequestToken: randomUUID(),
      TransactItems: [
        { Delete: current },
        ...together.map((rev) => ({
          Delete: { TableName: this.table, Key: versionKey(namespace, name, rev) },
        })),
      ],
    });
    try {
      await this.#send('TransactWriteItems', namespace, () => this.#client.send(command));
    } catch (error) {
      if (!isLostTransaction(error)) throw error;
      if (!isConditionCancelled(error))
        throw new EggError(
          'ERR_CONFLICT',
          `could not remove ${name}: another writer was changing it; try again`,
        );
      return false;
    }
    for (const rev of revs.slice(together.length)) {
      const rest = new DeleteItemCommand({ TableName: this.table, Key: versionKey(namespace, name, rev) });
      await this.#send('DeleteItem', namespace, () => this.#client.send(rest));
    }
    return true;
  }

  async getVersions(namespace: string, name: string): Promise<SecretItem[]> {
    const items = await this.#query('Query', namespace, {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': { S: namespace }, ':prefix': { S: `${VERSION_PREFIX}${name}#` } },
    });
    return items.map((item) => toSecret(namespace, item));
  }

  /** One Query of the keys alone: of one secret's versions, or of the whole namespace's. */
  async versionRevs(namespace: string, names?: readonly string[]): Promise<Map<string, number[]>> {
    const only = names?.length === 1 ? names[0] : undefined;
    const items = await this.#query('Query', namespace, {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: {
        ':pk': { S: namespace },
        ':prefix': { S: only === undefined ? VERSION_PREFIX : `${VERSION_PREFIX}${only}#` },
      },
      ProjectionExpression: '#sk',
    });
    const wanted = names === undefined ? undefined : new Set(names);
    const revs = new Map<string, number[]>();
    for (const item of items) {
      const { name, rev } = parseVersionKey(item.sk?.S ?? '');
      if (!Number.isSafeInteger(rev) || (wanted !== undefined && !wanted.has(name))) continue;
      revs.set(name, [...(revs.get(name) ?? []), rev]);
    }
    return revs;
  }

  async putVersion(item: SecretItem, gen: number): Promise<boolean> {
    const command = new PutItemCommand({
      TableName: this.table,
      Item: fromVersion(item),
      ConditionExpression: '#gen = :gen',
      ExpressionAttributeNames: { '#gen': 'gen' },
      ExpressionAttributeValues: { ':gen': num(gen) },
    });
    return this.#conditional('PutItem', item.namespace, () => this.#client.send(command));
  }

  /** The count is an attribute of the namespace's marker (`markNamespace`). */
  async getVersionsKept(namespace: string): Promise<number | undefined> {
    const command = new GetItemCommand({
      TableName: this.table,
      Key: { pk: { S: namespace }, sk: { S: NAMESPACE_MARKER_SK } },
      ProjectionExpression: 'versionsKept',
      ConsistentRead: true,
    });
    const { Item } = await this.#send('GetItem', namespace, () => this.#client.send(command));
    const kept = Item?.versionsKept?.N;
    return kept === undefined ? undefined : Number(kept);
  }

  /** A PutItem of the marker (what `manageSecrets` grants: no UpdateItem on the namespace's partition). */
  async setVersionsKept(namespace: string, count: number): Promise<void> {
    const command = new PutItemCommand({
      TableName: this.table,
      Item: { ...namespaceMarker(namespace), versionsKept: num(count) },
    });
    await this.#send('PutItem', namespace, () => this.#client.send(command));
  }

  async getNamespaceKey(namespace: string): Promise<NamespaceKeyItem | undefined> {
    const command = new GetItemCommand({
      TableName: this.table,
      Key: { pk: { S: namespace }, sk: { S: NAMESPACE_KEY_SK } },
      ConsistentRead: true,
    });
    const { Item } = await this.#send('GetItem', namespace, () => this.#client.send(command));
    return Item === undefined ? undefined : toNamespaceKey(namespace, Item);
  }

  async putNamespaceKey(item: NamespaceKeyItem): Promise<boolean> {
    const command = new PutItemCommand({
      TableName: this.table,
      Item: {
        pk: { S: item.namespace },
        sk: { S: NAMESPACE_KEY_SK },
        kekId: { S: item.kekId },
        wrapped: { B: item.wrapped },
        kmsKeyId: { S: item.kmsKeyId },
        createdAt: { S: item.createdAt },
      },
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    });
    return this.#conditional('PutItem', item.namespace, () => this.#client.send(command));
  }

  appendAudit(
    namespace: string,
    build: (head: AuditRecord | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    const previous = this.#appending.get(namespace) ?? Promise.resolve();
    const next = previous.then(
      () => this.#appendAudit(namespace, build),
      () => this.#appendAudit(namespace, build),
    );
    this.#appending.set(namespace, next);
    const forget = () => {
      if (this.#appending.get(namespace) === next) this.#appending.delete(namespace);
    };
    next.then(forget, forget);
    return next;
  }

  /** Read the chain's head now (if not cached), so the pull's audit append is one round trip. */
  async warmAudit(namespace: string): Promise<void> {
    if (!this.#heads.has(namespace)) await this.#auditHead(namespace);
  }

  async readAudit(namespace: string, options: { afterSeq?: number } = {}): Promise<AuditRecord[]> {
    const items = await this.#query('Query', namespace, {
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: {
        ':pk': { S: auditPartition(namespace) },
        ':from': { S: auditSortKey((options.afterSeq ?? 0) + 1) },
        ':to': { S: `${AUDIT_PREFIX}~` },
      },
    });
    return items.map((item) => toAudit(namespace, item));
  }

  async putCheckpoint(checkpoint: AuditCheckpoint): Promise<boolean> {
    const command = new PutItemCommand({
      TableName: this.table,
      Item: {
        pk: { S: anchorPartition(checkpoint.namespace) },
        sk: { S: checkpointSortKey(checkpoint.seq) },
        seq: num(checkpoint.seq),
        hash: { S: checkpoint.hash },
        time: { S: checkpoint.time },
        kid: { S: checkpoint.kid },
        signature: { S: checkpoint.signature },
      },
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    });
    return this.#conditional('PutItem', checkpoint.namespace, () => this.#client.send(command));
  }

  async readCheckpoints(namespace: string, options: { latest?: boolean } = {}): Promise<AuditCheckpoint[]> {
    const input = {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: {
        ':pk': { S: anchorPartition(namespace) },
        ':prefix': { S: CHECKPOINT_PREFIX },
      },
    };
    if (!options.latest) {
      const items = await this.#query('Query', namespace, input);
      return items.map((item) => toCheckpoint(namespace, item));
    }
    const command = new QueryCommand({
      ...input,
      TableName: this.table,
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
    const { Items } = await this.#send('Query', namespace, () => this.#client.send(command));
    return (Items ?? []).map((item) => toCheckpoint(namespace, item));
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  async claimNamespace(owner: MemberRecord): Promise<boolean> {
    if (owner.role !== 'owner') throw new TypeError('a namespace is claimed by its owner');
    const absent = {
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk' },
    };
    return this.#transact(owner.namespace, [
      {
        Put: {
          TableName: this.table,
          Item: {
            pk: { S: membersPartition(owner.namespace) },
            sk: { S: OWNER_SK },
            principal: { S: owner.principal },
          },
          ...absent,
        },
      },
      { Put: { TableName: this.table, Item: fromMember(owner), ...absent } },
      { Put: { TableName: this.table, Item: fromMembership(owner) } },
    ]);
  }

  async listMembers(namespace: string): Promise<MemberRecord[]> {
    const items = await this.#query('Query', namespace, {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: {
        ':pk': { S: membersPartition(namespace) },
        ':prefix': { S: MEMBER_PREFIX },
      },
    });
    return items.map((item) => toMember(namespace, item)).sort(byKey('principal'));
  }

  async putMember(record: MemberRecord): Promise<void> {
    if (record.role === 'owner') throw new TypeError('the owner is set by claimNamespace only');
    const written = await this.#transact(record.namespace, [
      {
        Put: {
          TableName: this.table,
          Item: fromMember(record),
          // The owner's item is never replaced.
          ConditionExpression: 'attribute_not_exists(#pk) OR #role <> :owner',
          ExpressionAttributeNames: { '#pk': 'pk', '#role': 'role' },
          ExpressionAttributeValues: { ':owner': { S: 'owner' } },
        },
      },
      { Put: { TableName: this.table, Item: fromMembership(record) } },
    ]);
    if (!written) throw new TypeError('the owner is set by claimNamespace only');
  }

  async deleteMember(namespace: string, principal: string): Promise<boolean> {
    const key = fromMember({ namespace, principal, role: 'read', addedBy: '', addedAt: '' });
    const reverse = fromMembership({ namespace, principal, role: 'read', addedBy: '', addedAt: '' });
    return this.#transact(namespace, [
      {
        Delete: {
          TableName: this.table,
          Key: { pk: key.pk!, sk: key.sk! },
          ConditionExpression: 'attribute_exists(#pk) AND #role <> :owner',
          ExpressionAttributeNames: { '#pk': 'pk', '#role': 'role' },
          ExpressionAttributeValues: { ':owner': { S: 'owner' } },
        },
      },
      { Delete: { TableName: this.table, Key: { pk: reverse.pk!, sk: reverse.sk! } } },
    ]);
  }

  async listMemberships(principal: string): Promise<MemberRecord[]> {
    const items = await this.#query('Query', '*', {
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: {
        ':pk': { S: principalPartition(principal) },
        ':prefix': { S: MEMBERSHIP_PREFIX },
      },
    });
    return items.map((item) => toMember(item.namespace?.S ?? '', item, principal)).sort(byKey('namespace'));
  }

  /**
   * One UpdateItem `ADD`: atomic across every instance, unconditional since an addition
   * overwrites nothing (as the proxy's usage counters, src/tokens/dynamodb-usage.ts). A retry
   * after a lost answer may count a call twice: it errs toward refusing, never toward more.
   */
  async countCall(caller: string, window: number, expiresAt: number): Promise<number> {
    const command = new UpdateItemCommand({
      TableName: this.table,
      Key: { pk: { S: callsPartition(caller) }, sk: { S: callWindowSortKey(window) } },
      UpdateExpression: 'SET #ttl = :expires ADD #count :one',
      ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE, '#count': 'calls' },
      ExpressionAttributeValues: { ':expires': { N: String(expiresAt) }, ':one': { N: '1' } },
      ReturnValues: 'UPDATED_NEW',
    });
    const { Attributes } = await this.#send('UpdateItem', '@api', () => this.#client.send(command));
    return Number(Attributes?.calls?.N ?? Number.NaN);
  }

  async callCount(caller: string, window: number): Promise<number> {
    const command = new GetItemCommand({
      TableName: this.table,
      Key: { pk: { S: callsPartition(caller) }, sk: { S: callWindowSortKey(window) } },
      ProjectionExpression: '#count',
      ExpressionAttributeNames: { '#count': 'calls' },
      ConsistentRead: true,
    });
    const { Item } = await this.#send('GetItem', '@api', () => this.#client.send(command));
    return Number(Item?.calls?.N ?? 0);
  }

  /** One conditional UpdateItem (the mark only moves forward), the mark before returned with it. */
  async markRefused(caller: string, window: number, expiresAt: number): Promise<number | undefined> {
    const command = new UpdateItemCommand({
      TableName: this.table,
      Key: { pk: { S: callsPartition(caller) }, sk: { S: LAST_REFUSED_SK } },
      UpdateExpression: 'SET #window = :window, #ttl = :expires',
      ConditionExpression: 'attribute_not_exists(#window) OR #window < :window',
      ExpressionAttributeNames: { '#window': 'refusedWindow', '#ttl': TTL_ATTRIBUTE },
      ExpressionAttributeValues: { ':window': { N: String(window) }, ':expires': { N: String(expiresAt) } },
      ReturnValues: 'UPDATED_OLD',
    });
    try {
      const { Attributes } = await this.#send('UpdateItem', '@api', () => this.#client.send(command));
      const before = Attributes?.refusedWindow?.N;
      return before === undefined ? undefined : Number(before);
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw error;
    }
  }

  /**
   * One TransactWriteItems: `true` when applied, `false` when a condition failed; one that
   * another transaction held (TransactionConflict) goes again.
   */
  async #transact(namespace: string, items: TransactWriteItem[]): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const command = new TransactWriteItemsCommand({
        ClientRequestToken: randomUUID(),
        TransactItems: items,
      });
      try {
        await this.#send('TransactWriteItems', namespace, () => this.#client.send(command));
        return true;
      } catch (error) {
        if (!isLostTransaction(error)) throw error;
        const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        if (reasons.some((r) => r.Code === 'ConditionalCheckFailed')) return false;
        if (attempt + 1 >= TRANSACT_ATTEMPTS)
          throw new EggError(
            'ERR_CONFLICT',
            `could not change the members of ${namespace}: too many writers at once`,
            {
              hint: 'try again',
            },
          );
        await this.#backoff(attempt);
      }
    }
  }

  /**
   * Conditional put of the next record (`attribute_not_exists`, so a seq is written once).
   * Another process holding the head makes the put fail: read the new head, rebuild, retry.
   */
  async #appendAudit(
    namespace: string,
    build: (head: AuditRecord | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    let head = this.#heads.has(namespace) ? this.#heads.get(namespace) : await this.#auditHead(namespace);
    for (let attempt = 0; attempt < AUDIT_ATTEMPTS; attempt++) {
      const record = build(head ?? undefined);
      if (record.namespace !== namespace) throw new TypeError('an audit record must belong to its namespace');
      const command = new PutItemCommand({
        TableName: this.table,
        Item: fromAudit(record),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk' },
      });
      if (await this.#conditional('PutItem', namespace, () => this.#client.send(command))) {
        this.#heads.set(namespace, record);
        return record;
      }
      head = await this.#auditHead(namespace);
      // A retried put whose first attempt had landed: the head is our own record.
      if (head?.seq === record.seq && head.hash === record.hash) return record;
      // A stale cached head costs one round; real contention backs off.
      if (attempt > 0) await this.#backoff(attempt - 1, 10, 250);
    }
    throw new EggError(
      'ERR_CONFLICT',
      `could not append to the audit trail of ${namespace}: too many writers at once`,
      {
        hint: 'try again',
      },
    );
  }

  async #auditHead(namespace: string): Promise<AuditRecord | null> {
    const command = new QueryCommand({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': { S: auditPartition(namespace) }, ':prefix': { S: AUDIT_PREFIX } },
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    });
    const { Items } = await this.#send('Query', namespace, () => this.#client.send(command));
    const head = Items?.[0] === undefined ? null : toAudit(namespace, Items[0]);
    this.#heads.set(namespace, head);
    return head;
  }

  /** One chunk of at most 100 keys; UnprocessedKeys (throttling) go again with full jitter. */
  async #batchGet(namespace: string, names: readonly string[]): Promise<SecretItem[]> {
    let keys = names.map((name) => secretKey(namespace, name));
    const items: SecretItem[] = [];
    for (let attempt = 0; ; attempt++) {
      const command = new BatchGetItemCommand({
        RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } },
      });
      const output = await this.#send('BatchGetItem', namespace, () => this.#client.send(command));
      for (const item of output.Responses?.[this.table] ?? []) items.push(toSecret(namespace, item));
      const unprocessed = output.UnprocessedKeys?.[this.table]?.Keys ?? [];
      if (unprocessed.length === 0) return items;
      if (attempt + 1 >= UNPROCESSED_ATTEMPTS) {
        throw new EggError(
          'ERR_STORE_UNAVAILABLE',
          `DynamoDB kept ${unprocessed.length} reads from table ${this.table} unprocessed (throttled)`,
          { hint: 'try again in a moment' },
        );
      }
      this.#logger.debug('retry', { label: 'dynamodb.BatchGetItem', unprocessed: unprocessed.length });
      keys = unprocessed;
      await this.#backoff(attempt);
    }
  }

  /** Every item of a Query, following LastEvaluatedKey. */
  async #query(
    operation: string,
    namespace: string,
    input: Omit<QueryCommandInput, 'TableName' | 'ConsistentRead' | 'ExclusiveStartKey'>,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const command = new QueryCommand({
        ...input,
        TableName: this.table,
        ConsistentRead: true,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      });
      const page = await this.#send(operation, namespace, () => this.#client.send(command));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /** A conditional write: `false` when the condition failed. */
  /**
   * One secret's write (`set`, `rollback`) without a transaction. infra/ttl.ts refuses every
   * write whose request names no attributes, which is how IAM sees a transaction's items, so
   * a grant role may write items only one by one. In this order, and still safe:
   * 1. the version it replaces, only if no version of that rev is kept (else `false`, as a
   *    transaction would say: another writer replacing the same rev got there first);
   * 2. the item, on its condition (else `false`, and the version step 1 wrote is deleted
   *    again: once step 1 won, only a racing `rm`, which meant every version to go, fails it);
   * 3. the versions past the namespace's count, one DeleteItem each. A failed delete is
   *    logged and left for the next set, which drops it again.
   */
  async #putOne(write: SecretWrite): Promise<boolean> {
    if (!(await this.#putItem(write))) return false;
    await this.#dropVersions(write);
    return true;
  }

  /** Steps 1 and 2 of `#putOne`. */
  async #putItem({ item, condition, keep }: SecretWrite): Promise<boolean> {
    if (keep !== undefined) {
      const version = new PutItemCommand({
        TableName: this.table,
        Item: fromVersion(keep),
        ...conditionOf({ kind: 'absent' }),
      });
      if (!(await this.#conditional('PutItem', item.namespace, () => this.#client.send(version))))
        return false;
    }
    if (!(await this.putSecret(item, condition))) {
      // Undo step 1, so a lost write keeps nothing (a racing `rm` meant every version to go).
      if (keep !== undefined) await this.#unkeep(keep);
      return false;
    }
    return true;
  }

  /** Delete the version `keep` wrote, while it is still that one. */
  async #unkeep(keep: SecretItem): Promise<void> {
    const undo = new DeleteItemCommand({
      TableName: this.table,
      Key: versionKey(keep.namespace, keep.name, keep.rev),
      ConditionExpression: '#gen = :gen',
      ExpressionAttributeNames: { '#gen': 'gen' },
      ExpressionAttributeValues: { ':gen': num(keep.gen) },
    });
    await this.#conditional('DeleteItem', keep.namespace, () => this.#client.send(undo));
  }

  /** Step 3 of `#putOne`. */
  async #dropVersions({ item, drop }: SecretWrite): Promise<void> {
    for (const rev of drop ?? []) {
      const remove = new DeleteItemCommand({
        TableName: this.table,
        Key: versionKey(item.namespace, item.name, rev),
      });
      try {
        await this.#send('DeleteItem', item.namespace, () => this.#client.send(remove));
      } catch (error) {
        this.#logger.warn('secret.version_drop_failed', {
          namespace: item.namespace,
          name: item.name,
          rev,
          error: error instanceof Error ? error.name : 'unknown',
        });
      }
    }
  }

  async #conditional(operation: string, namespace: string, send: () => Promise<unknown>): Promise<boolean> {
    try {
      await this.#send(operation, namespace, send);
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  /** Send with retries on transient failures, then translate what is left. */
  async #send<T>(operation: string, namespace: string, send: () => Promise<T>): Promise<T> {
    try {
      return await retry(send, { label: `dynamodb.${operation}`, logger: this.#logger, ...this.#retry });
    } catch (error) {
      if (isConditionFailed(error) || isLostTransaction(error)) throw error;
      throw this.#translate(error, operation, namespace);
    }
  }

  #translate(error: unknown, operation: string, namespace: string): unknown {
    if (error instanceof EggError) return error;
    const identity = identityProblem(error, `dynamodb:${operation}`, namespace);
    if (identity !== undefined) return identity;
    const name = awsErrorName(error);
    if (name === 'ResourceNotFoundException') {
      return new EggError('ERR_NOT_INITIALIZED', `the DynamoDB table ${this.table} does not exist`, {
        cause: error,
        hint: 'create it with `egg init --backend aws --create-table`, or set EGG_TABLE to the right table',
      });
    }
    if (isTransient(error)) {
      return new EggError('ERR_STORE_UNAVAILABLE', `could not reach DynamoDB table ${this.table} (${name})`, {
        cause: error,
        hint: 'check the network, the region and AWS_ENDPOINT_URL_DYNAMODB, then try again',
      });
    }
    return new EggError(
      'ERR_STORE_UNAVAILABLE',
      `dynamodb:${operation} failed on table ${this.table} (${name})`,
      {
        cause: error,
      },
    );
  }

  #backoff(attempt: number, base = this.#retry.baseMs ?? 25, cap = this.#retry.capMs ?? 2000): Promise<void> {
    const random = this.#retry.random ?? Math.random;
    return (this.#retry.sleep ?? sleep)(Math.floor(random() * Math.min(cap, base * 2 ** attempt)));
  }
}

/**
 * Create the table (on-demand billing, the key schema above) and wait until it is ACTIVE.
 * For development and tests (`egg init --backend aws --create-table`); production tables
 * come from infra/. Resolves `false` when the table already existed.
 */
export async function createTable(
  client: DynamoDBClient,
  table: string,
  options: { timeoutMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<boolean> {
  let created = true;
  try {
    await retry(
      () =>
        client.send(
          new CreateTableCommand({
            TableName: table,
            AttributeDefinitions: [
              { AttributeName: 'pk', AttributeType: 'S' },
              { AttributeName: 'sk', AttributeType: 'S' },
            ],
            KeySchema: [
              { AttributeName: 'pk', KeyType: 'HASH' },
              { AttributeName: 'sk', KeyType: 'RANGE' },
            ],
            BillingMode: 'PAY_PER_REQUEST',
            // The deferred rotator follows the audit records' inserts (infra: a Lambda on the stream).
            StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
          }),
        ),
      { label: 'dynamodb.CreateTable' },
    );
  } catch (error) {
    if (awsErrorName(error) !== 'ResourceInUseException')
      throw translateTableError(error, 'CreateTable', table);
    created = false;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  for (let attempt = 0; ; attempt++) {
    const status = await describeTableStatus(client, table);
    if (status === 'ACTIVE') {
      if (created) await enableTimeToLive(client, table);
      return created;
    }
    if (Date.now() > deadline) {
      throw new EggError(
        'ERR_STORE_UNAVAILABLE',
        `table ${table} is still ${status ?? 'missing'}; giving up waiting`,
      );
    }
    await (options.sleep ?? sleep)(Math.min(2000, 100 * 2 ** attempt));
  }
}

/** Token items carry `expiresAt` (epoch seconds, docs/tokens.md): let DynamoDB reap them after expiry. */
async function enableTimeToLive(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await retry(
      () =>
        client.send(
          new UpdateTimeToLiveCommand({
            TableName: table,
            TimeToLiveSpecification: { Enabled: true, AttributeName: TTL_ATTRIBUTE },
          }),
        ),
      { label: 'dynamodb.UpdateTimeToLive' },
    );
  } catch (error) {
    throw translateTableError(error, 'UpdateTimeToLive', table);
  }
}

/** The table's status (`ACTIVE`, `CREATING`, …), or undefined when it does not exist. */
export async function describeTableStatus(
  client: DynamoDBClient,
  table: string,
): Promise<string | undefined> {
  try {
    const { Table } = await retry(() => client.send(new DescribeTableCommand({ TableName: table })), {
      label: 'dynamodb.DescribeTable',
    });
    return Table?.TableStatus ?? 'UNKNOWN';
  } catch (error) {
    if (awsErrorName(error) === 'ResourceNotFoundException') return undefined;
    throw translateTableError(error, 'DescribeTable', table);
  }
}

function translateTableError(error: unknown, operation: string, table: string): unknown {
  return (
    identityProblem(error, `dynamodb:${operation}`, undefined) ??
    new EggError(
      'ERR_STORE_UNAVAILABLE',
      `dynamodb:${operation} failed for table ${table} (${awsErrorName(error)})`,
      {
        cause: error,
      },
    )
  );
}

const num = (value: number): AttributeValue => ({ N: String(value) });

/** A put's condition expression (a failed one is `ConditionalCheckFailed`). */
function conditionOf(
  condition: WriteCondition,
): Pick<
  PutItemCommandInput,
  'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
> {
  if (condition.kind === 'absent')
    return { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': 'pk' } };
  if (condition.kind === 'rev')
    return {
      ConditionExpression: '#rev = :rev',
      ExpressionAttributeNames: { '#rev': 'rev' },
      ExpressionAttributeValues: { ':rev': num(condition.rev) },
    };
  return {
    ConditionExpression: '#rev = :rev AND #gen = :gen',
    ExpressionAttributeNames: { '#rev': 'rev', '#gen': 'gen' },
    ExpressionAttributeValues: { ':rev': num(condition.rev), ':gen': num(condition.gen) },
  };
}

/** A transaction cancelled because one of its conditions failed. */
function isConditionCancelled(error: unknown): boolean {
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((r) => r.Code === 'ConditionalCheckFailed');
}

/** A transaction cancelled because a condition failed or another transaction held an item. */
function isLostTransaction(error: unknown): boolean {
  if (awsErrorName(error) !== 'TransactionCanceledException') return false;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
}

function secretKey(namespace: string, name: string): Item {
  return { pk: { S: namespace }, sk: { S: `${SECRET_PREFIX}${name}` } };
}

function namespaceMarker(namespace: string): Item {
  return { pk: { S: namespace }, sk: { S: NAMESPACE_MARKER_SK }, createdAt: { S: new Date().toISOString() } };
}

function versionKey(namespace: string, name: string, rev: number): Item {
  return { pk: { S: namespace }, sk: { S: versionSortKey(name, rev) } };
}

/** `V#<name>#<rev>` back to its name and rev (names never hold `#`). */
function parseVersionKey(sk: string): { name: string; rev: number } {
  const at = sk.lastIndexOf('#');
  return { name: sk.slice(VERSION_PREFIX.length, at), rev: Number(sk.slice(at + 1)) };
}

function fromVersion(item: SecretItem): Item {
  return { ...fromSecret(item), ...versionKey(item.namespace, item.name, item.rev) };
}

function fromSecret(item: SecretItem): Item {
  const out: Item = {
    ...secretKey(item.namespace, item.name),
    name: { S: item.name },
    ciphertext: { B: item.ciphertext },
    iv: { B: item.iv },
    tag: { B: item.tag },
    wrappedKey: { B: item.wrappedKey },
    keyId: { S: item.keyId },
    rev: num(item.rev),
    gen: num(item.gen),
    createdAt: { S: item.createdAt },
    updatedAt: { S: item.updatedAt },
  };
  if (item.upstream !== undefined) out.upstream = { S: item.upstream };
  if (item.inject !== undefined) out.inject = { S: item.inject };
  if (item.price !== undefined) out.price = { S: item.price };
  if (item.setBy !== undefined) out.setBy = { S: item.setBy };
  if (item.sealed) out.sealed = { BOOL: true };
  // Never `expiresAt`: that is the table's TTL attribute, and DynamoDB would delete the item.
  if (item.expires !== undefined) out.expires = { S: item.expires };
  return out;
}

/** A damaged secret item (or kept version) reads as undecryptable, like any other corruption. */
function toSecret(namespace: string, item: Item): SecretItem {
  const sk = item.sk?.S ?? '';
  const name = sk.startsWith(VERSION_PREFIX) ? parseVersionKey(sk).name : sk.slice(SECRET_PREFIX.length);
  const fields = new Fields(item, () => new DecryptionFailed(`secret ${name}`));
  const secret: SecretItem = {
    namespace,
    name,
    ciphertext: fields.bytes('ciphertext'),
    iv: fields.bytes('iv'),
    tag: fields.bytes('tag'),
    wrappedKey: fields.bytes('wrappedKey'),
    keyId: fields.string('keyId'),
    rev: fields.number('rev'),
    gen: fields.number('gen'),
    createdAt: fields.string('createdAt'),
    updatedAt: fields.string('updatedAt'),
  };
  if (item.upstream?.S !== undefined) secret.upstream = item.upstream.S;
  if (item.inject?.S !== undefined) secret.inject = item.inject.S;
  if (item.price?.S !== undefined) secret.price = item.price.S;
  if (item.setBy?.S !== undefined) secret.setBy = item.setBy.S;
  if (item.sealed?.BOOL === true) secret.sealed = true;
  if (item.expires?.S !== undefined) secret.expires = item.expires.S;
  return secret;
}

function toNamespaceKey(namespace: string, item: Item): NamespaceKeyItem {
  const fields = new Fields(item, () => new DecryptionFailed(`the key of namespace ${namespace}`));
  return {
    namespace,
    kekId: fields.string('kekId'),
    wrapped: fields.bytes('wrapped'),
    kmsKeyId: fields.string('kmsKeyId'),
    createdAt: fields.string('createdAt'),
  };
}

function fromMember(record: MemberRecord): Item {
  return {
    pk: { S: membersPartition(record.namespace) },
    sk: { S: `${MEMBER_PREFIX}${record.principal}` },
    principal: { S: record.principal },
    role: { S: record.role },
    addedBy: { S: record.addedBy },
    addedAt: { S: record.addedAt },
  };
}

function fromMembership(record: MemberRecord): Item {
  return {
    pk: { S: principalPartition(record.principal) },
    sk: { S: `${MEMBERSHIP_PREFIX}${record.namespace}` },
    namespace: { S: record.namespace },
    role: { S: record.role },
    addedBy: { S: record.addedBy },
    addedAt: { S: record.addedAt },
  };
}

/** A member item (or, with `principal`, a membership item of that principal). */
function toMember(namespace: string, item: Item, principal?: string): MemberRecord {
  const fields = new Fields(
    item,
    () => new EggError('ERR_STORE_UNAVAILABLE', `a member item of ${namespace} is damaged`),
  );
  const role = fields.string('role');
  if (!(MEMBER_ROLES as readonly string[]).includes(role)) throw fields.damaged();
  return {
    namespace,
    principal: principal ?? fields.string('principal'),
    role: role as MemberRole,
    addedBy: fields.string('addedBy'),
    addedAt: fields.string('addedAt'),
  };
}

function byKey<K extends string>(key: K) {
  return (a: Record<K, string>, b: Record<K, string>) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0);
}

function fromAudit(record: AuditRecord): Item {
  return {
    pk: { S: auditPartition(record.namespace) },
    sk: { S: auditSortKey(record.seq) },
    seq: num(record.seq),
    time: { S: record.time },
    action: { S: record.action },
    targets: { L: record.targets.map((target) => ({ S: target })) },
    actor: { S: record.actor },
    outcome: { S: record.outcome },
    prev: { S: record.prev },
    hash: { S: record.hash },
  };
}

function toAudit(namespace: string, item: Item): AuditRecord {
  const seq = item.seq?.N ?? item.sk?.S?.slice(AUDIT_PREFIX.length) ?? '?';
  const fields = new Fields(
    item,
    () => new EggError('ERR_AUDIT_BROKEN', `audit record ${Number(seq)} is damaged`),
  );
  const targets = item.targets?.L;
  if (targets === undefined || !targets.every((target) => target.S !== undefined)) throw fields.damaged();
  return {
    namespace,
    seq: fields.number('seq'),
    time: fields.string('time'),
    action: fields.string('action'),
    targets: targets.map((target) => target.S as string),
    actor: fields.string('actor'),
    outcome: fields.string('outcome'),
    prev: fields.string('prev'),
    hash: fields.string('hash'),
  };
}

/** A checkpoint as stored; its namespace is the partition it was read from, never an attribute. */
function toCheckpoint(namespace: string, item: Item): AuditCheckpoint {
  const fields = new Fields(
    item,
    () =>
      new EggError(
        'ERR_AUDIT_BROKEN',
        `an audit checkpoint of ${namespace} is damaged (${item.sk?.S ?? '?'})`,
      ),
  );
  return {
    namespace,
    seq: fields.number('seq'),
    hash: fields.string('hash'),
    time: fields.string('time'),
    kid: fields.string('kid'),
    signature: fields.string('signature'),
  };
}

/** Typed reads of an item's attributes; a missing or mistyped one is `damaged()`. */
class Fields {
  readonly item: Item;
  readonly damaged: () => Error;

  constructor(item: Item, damaged: () => Error) {
    this.item = item;
    this.damaged = damaged;
  }

  string(name: string): string {
    const value = this.item[name]?.S;
    if (value === undefined) throw this.damaged();
    return value;
  }

  number(name: string): number {
    const value = Number(this.item[name]?.N);
    if (!Number.isSafeInteger(value)) throw this.damaged();
    return value;
  }

  bytes(name: string): Buffer {
    const value = this.item[name]?.B;
    if (value === undefined) throw this.damaged();
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
}
