export const id = 648;
export const ids = [648];
export const modules = {

/***/ 8648:
/***/ ((__unused_webpack_module, exports, __webpack_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.DynamoDbStore = exports.auditSortKey = exports.AUDIT_PREFIX = exports.NAMESPACE_KEY_SK = exports.SECRET_PREFIX = void 0;
exports.createTable = createTable;
exports.describeTableStatus = describeTableStatus;
/**
 * The DynamoDB store: one table, partition key `pk` = the namespace (so IAM's
 * `dynamodb:LeadingKeys` can confine a role to it), sort key `sk`:
 * `S#<name>` a secret, `K#namespace` the namespace KEK, `A#<seq, 12 digits>` an audit record.
 * docs/dynamodb.md documents the items and which calls each vault operation makes.
 *
 * Semantics match the SQLite store: reads are strongly consistent, every write is
 * conditional (a failed condition is `false`), audit records are only ever added.
 * Transient failures retry through `retry()`; everything else becomes an `EggError`.
 */
const client_dynamodb_1 = __webpack_require__(4305);
const errors_js_1 = __webpack_require__(9378);
const errors_js_2 = __webpack_require__(3916);
const log_js_1 = __webpack_require__(5625);
const retry_js_1 = __webpack_require__(9809);
exports.SECRET_PREFIX = 'S#';
exports.NAMESPACE_KEY_SK = 'K#namespace';
exports.AUDIT_PREFIX = 'A#';
/** BatchGetItem takes at most 100 keys a call (DynamoDB API Reference, BatchGetItem). */
const BATCH_GET_MAX = 100;
/** Rounds of UnprocessedKeys before giving up on a throttled batch. */
const UNPROCESSED_ATTEMPTS = 8;
/** Rounds of a lost audit-head race across processes before giving up. */
const AUDIT_ATTEMPTS = 50;
const auditSortKey = (seq) => `${exports.AUDIT_PREFIX}${String(seq).padStart(12, '0')}`;
exports.auditSortKey = auditSortKey;
class DynamoDbStore {
    kind = 'dynamodb';
    table;
    #client;
    #logger;
    #ownsClient;
    #retry;
    /** The last audit head seen per namespace: saves the head Query on the next append. */
    #heads = new Map();
    /** Appends in this process queue per namespace, so they never race each other. */
    #appending = new Map();
    constructor(options) {
        this.#client = options.client;
        this.table = options.table;
        this.#logger = options.logger ?? log_js_1.nullLogger;
        this.#ownsClient = options.ownsClient ?? false;
        this.#retry = options.retry ?? {};
    }
    async getSecrets(namespace, names) {
        if (names === undefined) {
            const items = await this.#query('Query', namespace, {
                KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
                ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
                ExpressionAttributeValues: { ':pk': { S: namespace }, ':prefix': { S: exports.SECRET_PREFIX } },
            });
            return items.map((item) => toSecret(namespace, item));
        }
        const unique = [...new Set(names)];
        const chunks = [];
        for (let i = 0; i < unique.length; i += BATCH_GET_MAX)
            chunks.push(unique.slice(i, i + BATCH_GET_MAX));
        const results = await Promise.all(chunks.map((chunk) => this.#batchGet(namespace, chunk)));
        return results.flat();
    }
    async putSecret(item, condition) {
        const input = { TableName: this.table, Item: fromSecret(item) };
        if (condition.kind === 'absent') {
            input.ConditionExpression = 'attribute_not_exists(#pk)';
            input.ExpressionAttributeNames = { '#pk': 'pk' };
        }
        else if (condition.kind === 'rev') {
            input.ConditionExpression = '#rev = :rev';
            input.ExpressionAttributeNames = { '#rev': 'rev' };
            input.ExpressionAttributeValues = { ':rev': num(condition.rev) };
        }
        else {
            input.ConditionExpression = '#rev = :rev AND #gen = :gen';
            input.ExpressionAttributeNames = { '#rev': 'rev', '#gen': 'gen' };
            input.ExpressionAttributeValues = { ':rev': num(condition.rev), ':gen': num(condition.gen) };
        }
        return this.#conditional('PutItem', item.namespace, () => this.#client.send(new client_dynamodb_1.PutItemCommand(input)));
    }
    async deleteSecret(namespace, name) {
        const command = new client_dynamodb_1.DeleteItemCommand({
            TableName: this.table,
            Key: secretKey(namespace, name),
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: { '#pk': 'pk' },
        });
        return this.#conditional('DeleteItem', namespace, () => this.#client.send(command));
    }
    async getNamespaceKey(namespace) {
        const command = new client_dynamodb_1.GetItemCommand({
            TableName: this.table,
            Key: { pk: { S: namespace }, sk: { S: exports.NAMESPACE_KEY_SK } },
            ConsistentRead: true,
        });
        const { Item } = await this.#send('GetItem', namespace, () => this.#client.send(command));
        return Item === undefined ? undefined : toNamespaceKey(namespace, Item);
    }
    async putNamespaceKey(item) {
        const command = new client_dynamodb_1.PutItemCommand({
            TableName: this.table,
            Item: {
                pk: { S: item.namespace },
                sk: { S: exports.NAMESPACE_KEY_SK },
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
    appendAudit(namespace, build) {
        const previous = this.#appending.get(namespace) ?? Promise.resolve();
        const next = previous.then(() => this.#appendAudit(namespace, build), () => this.#appendAudit(namespace, build));
        this.#appending.set(namespace, next);
        const forget = () => {
            if (this.#appending.get(namespace) === next)
                this.#appending.delete(namespace);
        };
        next.then(forget, forget);
        return next;
    }
    /** Read the chain's head now (if not cached), so the pull's audit append is one round trip. */
    async warmAudit(namespace) {
        if (!this.#heads.has(namespace))
            await this.#auditHead(namespace);
    }
    async readAudit(namespace) {
        const items = await this.#query('Query', namespace, {
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
            ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
            ExpressionAttributeValues: { ':pk': { S: namespace }, ':prefix': { S: exports.AUDIT_PREFIX } },
        });
        return items.map((item) => toAudit(namespace, item));
    }
    async close() {
        if (this.#ownsClient)
            this.#client.destroy();
    }
    /**
     * Conditional put of the next record (`attribute_not_exists`, so a seq is written once).
     * Another process holding the head makes the put fail: read the new head, rebuild, retry.
     */
    async #appendAudit(namespace, build) {
        let head = this.#heads.has(namespace) ? this.#heads.get(namespace) : await this.#auditHead(namespace);
        for (let attempt = 0; attempt < AUDIT_ATTEMPTS; attempt++) {
            const record = build(head ?? undefined);
            if (record.namespace !== namespace)
                throw new TypeError('an audit record must belong to its namespace');
            const command = new client_dynamodb_1.PutItemCommand({
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
            if (head?.seq === record.seq && head.hash === record.hash)
                return record;
            // A stale cached head costs one round; real contention backs off.
            if (attempt > 0)
                await this.#backoff(attempt - 1, 10, 250);
        }
        throw new errors_js_2.EggError('ERR_CONFLICT', `could not append to the audit trail of ${namespace}: too many writers at once`, {
            hint: 'try again',
        });
    }
    async #auditHead(namespace) {
        const command = new client_dynamodb_1.QueryCommand({
            TableName: this.table,
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
            ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
            ExpressionAttributeValues: { ':pk': { S: namespace }, ':prefix': { S: exports.AUDIT_PREFIX } },
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
    async #batchGet(namespace, names) {
        let keys = names.map((name) => secretKey(namespace, name));
        const items = [];
        for (let attempt = 0;; attempt++) {
            const command = new client_dynamodb_1.BatchGetItemCommand({
                RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } },
            });
            const output = await this.#send('BatchGetItem', namespace, () => this.#client.send(command));
            for (const item of output.Responses?.[this.table] ?? [])
                items.push(toSecret(namespace, item));
            const unprocessed = output.UnprocessedKeys?.[this.table]?.Keys ?? [];
            if (unprocessed.length === 0)
                return items;
            if (attempt + 1 >= UNPROCESSED_ATTEMPTS) {
                throw new errors_js_2.EggError('ERR_STORE_UNAVAILABLE', `DynamoDB kept ${unprocessed.length} reads from table ${this.table} unprocessed (throttled)`, { hint: 'try again in a moment' });
            }
            this.#logger.debug('retry', { label: 'dynamodb.BatchGetItem', unprocessed: unprocessed.length });
            keys = unprocessed;
            await this.#backoff(attempt);
        }
    }
    /** Every item of a Query, following LastEvaluatedKey. */
    async #query(operation, namespace, input) {
        const items = [];
        let start;
        do {
            const command = new client_dynamodb_1.QueryCommand({
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
    async #conditional(operation, namespace, send) {
        try {
            await this.#send(operation, namespace, send);
            return true;
        }
        catch (error) {
            if ((0, errors_js_1.isConditionFailed)(error))
                return false;
            throw error;
        }
    }
    /** Send with retries on transient failures, then translate what is left. */
    async #send(operation, namespace, send) {
        try {
            return await (0, retry_js_1.retry)(send, { label: `dynamodb.${operation}`, logger: this.#logger, ...this.#retry });
        }
        catch (error) {
            if ((0, errors_js_1.isConditionFailed)(error))
                throw error;
            throw this.#translate(error, operation, namespace);
        }
    }
    #translate(error, operation, namespace) {
        if (error instanceof errors_js_2.EggError)
            return error;
        const identity = (0, errors_js_1.identityProblem)(error, `dynamodb:${operation}`, namespace);
        if (identity !== undefined)
            return identity;
        const name = (0, errors_js_1.awsErrorName)(error);
        if (name === 'ResourceNotFoundException') {
            return new errors_js_2.EggError('ERR_NOT_INITIALIZED', `the DynamoDB table ${this.table} does not exist`, {
                cause: error,
                hint: 'create it with `egg init --backend aws --create-table`, or set EGG_TABLE to the right table',
            });
        }
        if ((0, retry_js_1.isTransient)(error)) {
            return new errors_js_2.EggError('ERR_STORE_UNAVAILABLE', `could not reach DynamoDB table ${this.table} (${name})`, {
                cause: error,
                hint: 'check the network, the region and AWS_ENDPOINT_URL_DYNAMODB, then try again',
            });
        }
        return new errors_js_2.EggError('ERR_STORE_UNAVAILABLE', `dynamodb:${operation} failed on table ${this.table} (${name})`, {
            cause: error,
        });
    }
    #backoff(attempt, base = this.#retry.baseMs ?? 25, cap = this.#retry.capMs ?? 2000) {
        const random = this.#retry.random ?? Math.random;
        return (this.#retry.sleep ?? retry_js_1.sleep)(Math.floor(random() * Math.min(cap, base * 2 ** attempt)));
    }
}
exports.DynamoDbStore = DynamoDbStore;
/**
 * Create the table (on-demand billing, the key schema above) and wait until it is ACTIVE.
 * For development and tests (`egg init --backend aws --create-table`); production tables
 * come from infra/. Resolves `false` when the table already existed.
 */
async function createTable(client, table, options = {}) {
    let created = true;
    try {
        await (0, retry_js_1.retry)(() => client.send(new client_dynamodb_1.CreateTableCommand({
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
        })), { label: 'dynamodb.CreateTable' });
    }
    catch (error) {
        if ((0, errors_js_1.awsErrorName)(error) !== 'ResourceInUseException')
            throw translateTableError(error, 'CreateTable', table);
        created = false;
    }
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    for (let attempt = 0;; attempt++) {
        const status = await describeTableStatus(client, table);
        if (status === 'ACTIVE')
            return created;
        if (Date.now() > deadline) {
            throw new errors_js_2.EggError('ERR_STORE_UNAVAILABLE', `table ${table} is still ${status ?? 'missing'}; giving up waiting`);
        }
        await (options.sleep ?? retry_js_1.sleep)(Math.min(2000, 100 * 2 ** attempt));
    }
}
/** The table's status (`ACTIVE`, `CREATING`, …), or undefined when it does not exist. */
async function describeTableStatus(client, table) {
    try {
        const { Table } = await (0, retry_js_1.retry)(() => client.send(new client_dynamodb_1.DescribeTableCommand({ TableName: table })), {
            label: 'dynamodb.DescribeTable',
        });
        return Table?.TableStatus ?? 'UNKNOWN';
    }
    catch (error) {
        if ((0, errors_js_1.awsErrorName)(error) === 'ResourceNotFoundException')
            return undefined;
        throw translateTableError(error, 'DescribeTable', table);
    }
}
function translateTableError(error, operation, table) {
    return ((0, errors_js_1.identityProblem)(error, `dynamodb:${operation}`, undefined) ??
        new errors_js_2.EggError('ERR_STORE_UNAVAILABLE', `dynamodb:${operation} failed for table ${table} (${(0, errors_js_1.awsErrorName)(error)})`, {
            cause: error,
        }));
}
const num = (value) => ({ N: String(value) });
function secretKey(namespace, name) {
    return { pk: { S: namespace }, sk: { S: `${exports.SECRET_PREFIX}${name}` } };
}
function fromSecret(item) {
    const out = {
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
    if (item.upstream !== undefined)
        out.upstream = { S: item.upstream };
    if (item.inject !== undefined)
        out.inject = { S: item.inject };
    return out;
}
/** A damaged secret item reads as undecryptable, like any other corruption. */
function toSecret(namespace, item) {
    const sk = item.sk?.S ?? '';
    const name = sk.slice(exports.SECRET_PREFIX.length);
    const fields = new Fields(item, () => new errors_js_2.DecryptionFailed(`secret ${name}`));
    const secret = {
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
    if (item.upstream?.S !== undefined)
        secret.upstream = item.upstream.S;
    if (item.inject?.S !== undefined)
        secret.inject = item.inject.S;
    return secret;
}
function toNamespaceKey(namespace, item) {
    const fields = new Fields(item, () => new errors_js_2.DecryptionFailed(`the key of namespace ${namespace}`));
    return {
        namespace,
        kekId: fields.string('kekId'),
        wrapped: fields.bytes('wrapped'),
        kmsKeyId: fields.string('kmsKeyId'),
        createdAt: fields.string('createdAt'),
    };
}
function fromAudit(record) {
    return {
        pk: { S: record.namespace },
        sk: { S: (0, exports.auditSortKey)(record.seq) },
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
function toAudit(namespace, item) {
    const seq = item.seq?.N ?? item.sk?.S?.slice(exports.AUDIT_PREFIX.length) ?? '?';
    const fields = new Fields(item, () => new errors_js_2.EggError('ERR_AUDIT_BROKEN', `audit record ${Number(seq)} is damaged`));
    const targets = item.targets?.L;
    if (targets === undefined || !targets.every((target) => target.S !== undefined))
        throw fields.damaged();
    return {
        namespace,
        seq: fields.number('seq'),
        time: fields.string('time'),
        action: fields.string('action'),
        targets: targets.map((target) => target.S),
        actor: fields.string('actor'),
        outcome: fields.string('outcome'),
        prev: fields.string('prev'),
        hash: fields.string('hash'),
    };
}
/** Typed reads of an item's attributes; a missing or mistyped one is `damaged()`. */
class Fields {
    item;
    damaged;
    constructor(item, damaged) {
        this.item = item;
        this.damaged = damaged;
    }
    string(name) {
        const value = this.item[name]?.S;
        if (value === undefined)
            throw this.damaged();
        return value;
    }
    number(name) {
        const value = Number(this.item[name]?.N);
        if (!Number.isSafeInteger(value))
            throw this.damaged();
        return value;
    }
    bytes(name) {
        const value = this.item[name]?.B;
        if (value === undefined)
            throw this.damaged();
        return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
}


/***/ })

};
