/**
 * A loopback IAM enforcement point between the real AWS SDK clients and DynamoDB Local /
 * moto's KMS, which check no policy at all. Each request, in the AWS JSON 1.0 / 1.1 wire
 * protocol (`X-Amz-Target: DynamoDB_20120810.GetItem`, `TrentService.Decrypt`), is turned
 * into the IAM request context(s) AWS documents for it and evaluated against the role's
 * identity policies (DynamoDB: by `@cloud-copilot/iam-simulate`, iam-simulator.ts) and, for
 * KMS, also the key's policy (iam-policy.ts: the simulator cannot read the
 * `kms:EncryptionContext:<key>` conditions). An allowed request is
 * forwarded unchanged (both backends accept any SigV4 signature, so it is not re-signed) and
 * the answer streamed back; a denied one gets AWS's own AccessDeniedException.
 *
 * What it derives, per the "Actions, resources, and condition keys" pages of the Service
 * Authorization Reference and the DynamoDB / KMS developer guides:
 * - action `dynamodb:<Operation>` / `kms:<Operation>`;
 * - resource: `arn:aws:dynamodb:<region>:<account>:table/<TableName>` (`…/index/<IndexName>`
 *   for an index Query/Scan), or the KMS key ARN (a key id or alias is resolved through
 *   `keyIds`, else by DescribeKey at the backend); `*` for calls on no resource;
 * - BatchGetItem / BatchWriteItem: one authorization per table in `RequestItems`;
 * - TransactGetItems / TransactWriteItems: one authorization per item with the item's own
 *   action (`dynamodb:GetItem`, `PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`)
 *   and `dynamodb:EnclosingOperation` ("Using IAM with DynamoDB transactions");
 * - `dynamodb:LeadingKeys`: the set of partition-key values the request touches (Key, Item,
 *   every batch key or item, a Query's `#pk = :pk` key condition); absent for Scan and for
 *   table-level calls, exactly as in AWS (so `ForAllValues:` conditions hold for them);
 * - `dynamodb:Attributes` for GetItem, PutItem, UpdateItem, DeleteItem, Query and Scan: the
 *   top-level attribute names the request names, in its maps and its expressions
 *   (test/support/dynamodb-attributes.ts says how, and its limits); absent for the batch and
 *   transaction operations, for which AWS documents none (the reading that makes
 *   `ForAllValues:` conditions on it hold vacuously, so policies must not rely on it there);
 *   `dynamodb:ReturnValues` on writes (`NONE` when not given), `dynamodb:Select` on Query
 *   and Scan;
 * - `kms:EncryptionContext:<key>` per context pair, `kms:EncryptionContextKeys`,
 *   `kms:SigningAlgorithm`, `kms:MessageType`, `kms:RequestAlias`, `kms:CallerAccount`; for
 *   CreateGrant `kms:GranteePrincipal`, `kms:RetiringPrincipal`, `kms:GrantOperations` and
 *   `kms:GrantIsForAWSResource` (`false`: the caller calls KMS directly);
 *   `kms:ViaService` is absent (the caller calls KMS directly);
 * - `aws:PrincipalArn` (the role), `aws:PrincipalAccount`, `aws:PrincipalType`
 *   (`AssumedRole`), `aws:RequestedRegion`, `aws:SecureTransport` (`true`, as over HTTPS).
 *
 * It fails closed: an operation it does not model (PartiQL, ReEncrypt, alias management), a
 * partition key it cannot find, or a policy the evaluator cannot read is refused with an
 * AccessDeniedException whose message starts "iam-gateway:", and recorded in `denied`.
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request as httpRequest,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { attributesFor } from './dynamodb-attributes.js';
import {
  type ContextValue,
  type DecisionKind,
  evaluateKeyAccess,
  type IntrinsicResolver,
  parseArn,
  type Policy,
} from './iam-policy.js';
import { decide, orPlaceholder } from './iam-simulator.js';

export type GatewayService = 'dynamodb' | 'kms';

export interface IamGatewayOptions {
  /** DynamoDB Local's endpoint, e.g. `inject('aws').dynamodb`. */
  dynamodbEndpoint: string;
  /** The KMS server's endpoint (moto), e.g. `inject('aws').moto`. */
  kmsEndpoint: string;
  /** The role the caller acts as: `aws:PrincipalArn`, e.g. `arn:aws:iam::123456789012:role/egg-ci`. */
  principalArn: string;
  /** The role's identity-policy statements, hand-written or from a template (`roleStatementsFromTemplate`). */
  policies: Policy;
  /** Key policies by key ARN; a key listed here must allow too (`evaluateKeyAccess`). */
  keyPolicies?: Readonly<Record<string, Policy>>;
  /** Resolves template intrinsics (`cfnResolver`) in every policy. */
  resolve?: IntrinsicResolver;
  /** Account of the table ARNs and `aws:PrincipalAccount`. Default: the principal ARN's account. */
  account?: string;
  /** Region of the table ARNs. Default: the region each request was signed for (its SigV4 scope). */
  region?: string;
  /** Session name in the `assumed-role` ARN that denial messages name. Default `egg-test`. */
  sessionName?: string;
  /** The table's partition key attribute. Default `pk`. */
  partitionKey?: string;
  /** KMS key ids, aliases or alias ARNs → key ARN, looked up before asking the backend. */
  keyIds?: Readonly<Record<string, string>>;
}

/** One authorization the gateway decided. */
export interface Authorization {
  service: GatewayService;
  action: string;
  resource: string;
  context: Record<string, ContextValue>;
  decision: DecisionKind;
  /** The statement that decided, when one did. */
  statement?: string;
  /** Why a request was refused without a policy decision (fail closed), or which policy denied. */
  reason?: string;
}

export interface IamGateway {
  /** Point `createDynamoDbClient({ endpoint })` here. */
  dynamodbEndpoint: string;
  /** Point `createKmsClient({ endpoint })` here. */
  kmsEndpoint: string;
  /** Every authorization decided, in order. */
  decisions: Authorization[];
  /** The authorizations that were refused, in order. */
  denied: Authorization[];
  /** Stops both listeners, drops keep-alive connections and upstream sockets. */
  close(): Promise<void>;
}

const TARGET_PREFIX: Record<GatewayService, string> = {
  dynamodb: 'DynamoDB_20120810.',
  kms: 'TrentService.',
};
const CONTENT_TYPE: Record<GatewayService, string> = {
  dynamodb: 'application/x-amz-json-1.0',
  kms: 'application/x-amz-json-1.1',
};
/** Headers that belong to one hop (RFC 9110 §7.6.1), never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** One authorization to decide before forwarding. */
interface Check {
  action: string;
  resource: string;
  context: Record<string, ContextValue>;
}

/** The gateway refuses what it cannot authorize faithfully. */
class Refusal extends Error {
  constructor(
    readonly action: string,
    message: string,
  ) {
    super(message);
  }
}

type JsonObject = Record<string, unknown>;

/**
 * Starts the gateway on 127.0.0.1 (two ports the kernel picks).
 * @example
 * const gateway = await startIamGateway({
 *   dynamodbEndpoint: aws.dynamodb, kmsEndpoint: aws.moto,
 *   principalArn: 'arn:aws:iam::123456789012:role/egg-ci',
 *   policies: [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: tableArn,
 *                Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } } }],
 * });
 * const client = await createDynamoDbClient({ endpoint: gateway.dynamodbEndpoint });
 * // … GetItem on pk 'b' rejects with AccessDeniedException
 * await gateway.close();
 */
export async function startIamGateway(options: IamGatewayOptions): Promise<IamGateway> {
  const principal = parseArn(options.principalArn);
  if (principal === undefined) throw new TypeError(`principalArn ${options.principalArn} is not an ARN`);
  const account = options.account ?? principal.account;
  const partitionKey = options.partitionKey ?? 'pk';
  const user = callerArn(options.principalArn, principal, options.sessionName ?? 'egg-test');
  const agent = new Agent({ keepAlive: true });
  const keyArns = new Map<string, string>(Object.entries(options.keyIds ?? {}));
  const decisions: Authorization[] = [];
  const denied: Authorization[] = [];
  const upstreams: Record<GatewayService, URL> = {
    dynamodb: new URL(options.dynamodbEndpoint),
    kms: new URL(options.kmsEndpoint),
  };

  const baseContext = (region: string): Record<string, ContextValue> => ({
    'aws:PrincipalArn': options.principalArn,
    'aws:PrincipalAccount': account,
    'aws:PrincipalType': principal.resource.startsWith('role/') ? 'AssumedRole' : 'User',
    'aws:RequestedRegion': region,
    'aws:SecureTransport': 'true',
  });

  /** Decides one check and records it in `decisions` (and `denied`). */
  const authorize = async (service: GatewayService, check: Check): Promise<Authorization> => {
    const request = { action: check.action, resource: check.resource, context: check.context };
    let record: Authorization;
    try {
      const evaluate = { resolve: options.resolve };
      if (service === 'kms') {
        const keyPolicy = options.keyPolicies?.[check.resource];
        const { policy, ...decision } = evaluateKeyAccess(
          { identity: options.policies, keyPolicy },
          request,
          { principalArn: options.principalArn },
          evaluate,
        );
        record = {
          service,
          ...request,
          ...decision,
          reason: policy === 'key' ? 'resource-based' : 'identity-based',
        };
      } else {
        const decision = await decide({
          principal: options.principalArn,
          identity: options.policies,
          request,
          // The simulator reads every statement, also those on resources this gateway never sees.
          resolve: options.resolve === undefined ? undefined : orPlaceholder(options.resolve),
        });
        record = { service, ...request, ...decision, reason: 'identity-based' };
      }
    } catch (error) {
      record = { service, ...request, decision: 'deny', reason: `iam-gateway: ${(error as Error).message}` };
    }
    if (record.decision === 'allow') delete record.reason;
    decisions.push(record);
    if (record.decision !== 'allow') denied.push(record);
    return record;
  };

  const deniedMessage = (record: Authorization): string => {
    if (record.reason?.startsWith('iam-gateway:')) return record.reason;
    const head = `User: ${user} is not authorized to perform: ${record.action} on resource: ${record.resource}`;
    const kind = record.reason ?? 'identity-based';
    return record.decision === 'deny'
      ? `${head} with an explicit deny in ${kind === 'identity-based' ? 'an' : 'a'} ${kind} policy`
      : `${head} because no ${kind} policy allows the ${record.action} action`;
  };

  const handle = async (service: GatewayService, req: IncomingMessage, body: Buffer): Promise<Reply> => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (!target.startsWith(TARGET_PREFIX[service]))
      return errorReply(
        service,
        'UnknownOperationException',
        `iam-gateway: unknown X-Amz-Target "${target}"`,
      );
    const operation = target.slice(TARGET_PREFIX[service].length);
    let input: JsonObject;
    try {
      const parsed: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      if (!isObject(parsed)) throw new TypeError('not an object');
      input = parsed;
    } catch {
      return errorReply(service, 'SerializationException', 'iam-gateway: the body is not a JSON object');
    }
    const region = options.region ?? signedRegion(req.headers) ?? 'us-east-1';
    const context = baseContext(region);
    const refuse = (action: string, why: string) => {
      const record = authorizeRefusal(service, { action, resource: '*', context }, why);
      return accessDenied(service, deniedMessage(record));
    };
    try {
      if (service === 'dynamodb') {
        const checks = dynamodbChecks(operation, input, { region, account, partitionKey, context });
        return (await decideAll(service, checks)) ?? (await forward(service, req, body));
      }
      const key = kmsKeyId(operation, input);
      if (key === undefined) {
        if (operation !== 'Decrypt') {
          const checks = kmsChecks(operation, input, '*', context, account);
          return (await decideAll(service, checks)) ?? (await forward(service, req, body));
        }
        // Decrypt without KeyId: KMS takes the key from the ciphertext. Ask the backend
        // (Decrypt changes nothing) and authorize on the key it reports before answering.
        const reply = await forward(service, req, body, true);
        if (reply.status !== 200) return reply;
        const reported = parseJson(reply.body)?.KeyId;
        if (typeof reported !== 'string')
          return refuse('kms:Decrypt', 'the backend reported no KeyId for Decrypt');
        return (await decideAll(service, kmsChecks(operation, input, reported, context, account))) ?? reply;
      }
      const resolved = await resolveKey(key, req.headers);
      if (typeof resolved !== 'string') return resolved;
      const checks = kmsChecks(operation, input, resolved, context, account);
      return (await decideAll(service, checks)) ?? (await forward(service, req, body));
    } catch (error) {
      if (error instanceof Refusal) return refuse(error.action, error.message);
      throw error;
    }
  };

  const authorizeRefusal = (service: GatewayService, check: Check, why: string): Authorization => {
    const record: Authorization = { service, ...check, decision: 'deny', reason: `iam-gateway: ${why}` };
    decisions.push(record);
    denied.push(record);
    return record;
  };

  /** The denial reply for the first check refused, or undefined when all are allowed. */
  const decideAll = async (service: GatewayService, checks: Check[]): Promise<Reply | undefined> => {
    for (const check of checks) {
      const record = await authorize(service, check);
      if (record.decision !== 'allow') return accessDenied(service, deniedMessage(record));
    }
    return undefined;
  };

  /** A key ARN for `keyId`, or the backend's error reply when it does not know the key. */
  const resolveKey = async (keyId: string, headers: IncomingHttpHeaders): Promise<string | Reply> => {
    const known = keyArns.get(keyId);
    if (known !== undefined) return known;
    if (/^arn:[^:]+:kms:[^:]*:[^:]*:key\//.test(keyId)) return keyId;
    const body = Buffer.from(JSON.stringify({ KeyId: keyId }));
    const reply = await send(
      upstreams.kms,
      '/',
      {
        ...forwardedHeaders(headers),
        'content-type': CONTENT_TYPE.kms,
        'content-length': String(body.length),
        'x-amz-target': `${TARGET_PREFIX.kms}DescribeKey`,
      },
      body,
      true,
    );
    if (reply.status !== 200) return reply;
    const arn = (parseJson(reply.body)?.KeyMetadata as JsonObject | undefined)?.Arn;
    if (typeof arn !== 'string')
      throw new Refusal('kms:DescribeKey', `DescribeKey returned no ARN for ${keyId}`);
    keyArns.set(keyId, arn);
    return arn;
  };

  const forward = (service: GatewayService, req: IncomingMessage, body: Buffer, buffer = false) =>
    send(upstreams[service], req.url ?? '/', forwardedHeaders(req.headers), body, buffer, req.method);

  /** One request upstream; the reply streams unless `buffer` (then `body` holds it). */
  const send = (
    upstream: URL,
    path: string,
    headers: Record<string, string | string[]>,
    body: Buffer,
    buffer: boolean,
    method = 'POST',
  ): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const request = httpRequest(
        { host: upstream.hostname, port: upstream.port, path, method, headers, agent },
        (response) => {
          const reply: Reply = {
            status: response.statusCode ?? 502,
            headers: forwardedHeaders(response.headers),
            stream: response,
          };
          if (!buffer) return resolve(reply);
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ ...reply, stream: undefined, body: Buffer.concat(chunks) }));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });

  const servers = (['dynamodb', 'kms'] as const).map((service) =>
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        handle(service, req, Buffer.concat(chunks)).then(
          (reply) => writeReply(res, reply),
          (error: unknown) =>
            writeReply(res, {
              ...errorReply(service, 'InternalFailure', `iam-gateway: ${(error as Error).message}`),
              status: 500,
            }),
        );
      });
    }),
  );
  const endpoints = await Promise.all(
    servers.map(
      (server) =>
        new Promise<string>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () =>
            resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
          );
        }),
    ),
  );

  return {
    dynamodbEndpoint: endpoints[0] as string,
    kmsEndpoint: endpoints[1] as string,
    decisions,
    denied,
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
      agent.destroy();
    },
  };
}

// --- DynamoDB -------------------------------------------------------------------------------

/** Item operations whose keys the gateway cannot see (PartiQL statements): refused. */
const DYNAMODB_UNMODELED = new Set(['ExecuteStatement', 'BatchExecuteStatement', 'ExecuteTransaction']);

/** The transaction item kinds and the action each is authorized as. */
const TRANSACT_WRITE_ACTIONS: Record<string, { action: string; field: 'Item' | 'Key' }> = {
  Put: { action: 'dynamodb:PutItem', field: 'Item' },
  Update: { action: 'dynamodb:UpdateItem', field: 'Key' },
  Delete: { action: 'dynamodb:DeleteItem', field: 'Key' },
  ConditionCheck: { action: 'dynamodb:ConditionCheckItem', field: 'Key' },
};

function dynamodbChecks(
  operation: string,
  input: JsonObject,
  where: { region: string; account: string; partitionKey: string; context: Record<string, ContextValue> },
): Check[] {
  const action = `dynamodb:${operation}`;
  const table = (name: unknown, index?: unknown): string => {
    if (typeof name !== 'string' || name === '') throw new Refusal(action, `${operation} names no TableName`);
    const arn = name.startsWith('arn:')
      ? name
      : `arn:aws:dynamodb:${where.region}:${where.account}:table/${name}`;
    return typeof index === 'string' ? `${arn}/index/${index}` : arn;
  };
  const leading = (item: unknown, what: string): string => {
    const value = isObject(item) ? item[where.partitionKey] : undefined;
    const scalar = isObject(value) ? (value.S ?? value.N ?? value.B) : undefined;
    if (typeof scalar !== 'string')
      throw new Refusal(action, `${operation}: no partition key "${where.partitionKey}" in ${what}`);
    return scalar;
  };
  const check = (
    checkAction: string,
    resource: string,
    keys?: string[],
    extra: Record<string, ContextValue> = {},
  ): Check => ({
    action: checkAction,
    resource,
    context: {
      ...where.context,
      ...extra,
      ...(keys === undefined ? {} : { 'dynamodb:LeadingKeys': [...new Set(keys)] }),
    },
  });
  if (DYNAMODB_UNMODELED.has(operation)) throw new Refusal(action, `${operation} (PartiQL) is not modeled`);
  const item = itemContext(operation, input, action);
  switch (operation) {
    case 'GetItem':
    case 'DeleteItem':
    case 'UpdateItem':
      return [check(action, table(input.TableName), [leading(input.Key, 'Key')], item)];
    case 'PutItem':
      return [check(action, table(input.TableName), [leading(input.Item, 'Item')], item)];
    case 'Query':
      return [
        check(
          action,
          table(input.TableName, input.IndexName),
          [queryPartition(input, where.partitionKey, action)],
          item,
        ),
      ];
    case 'Scan':
      return [check(action, table(input.TableName, input.IndexName), undefined, item)];
    case 'BatchGetItem':
      return entriesOf(input.RequestItems, action).map(([name, request]) =>
        check(
          action,
          table(name),
          listIn(request, 'Keys', action).map((key) => leading(key, 'Keys')),
        ),
      );
    case 'BatchWriteItem':
      return entriesOf(input.RequestItems, action).map(([name, requests]) => {
        if (!Array.isArray(requests)) throw new Refusal(action, 'malformed RequestItems');
        const keys = requests.map((r: unknown) => {
          const put = isObject(r) && isObject(r.PutRequest) ? r.PutRequest.Item : undefined;
          const del = isObject(r) && isObject(r.DeleteRequest) ? r.DeleteRequest.Key : undefined;
          return put !== undefined ? leading(put, 'PutRequest.Item') : leading(del, 'DeleteRequest.Key');
        });
        return check(action, table(name), keys);
      });
    case 'TransactGetItems':
      return listIn(input, 'TransactItems', action).map((entry) => {
        const get = isObject(entry) ? entry.Get : undefined;
        if (!isObject(get)) throw new Refusal(action, 'a TransactItems entry has no Get');
        return check('dynamodb:GetItem', table(get.TableName), [leading(get.Key, 'Get.Key')], {
          'dynamodb:EnclosingOperation': operation,
        });
      });
    case 'TransactWriteItems':
      return listIn(input, 'TransactItems', action).map((entry) => {
        const [kind, body] = isObject(entry) ? (Object.entries(entry)[0] ?? []) : [];
        const spec = typeof kind === 'string' ? TRANSACT_WRITE_ACTIONS[kind] : undefined;
        if (spec === undefined || !isObject(body))
          throw new Refusal(action, `unknown TransactItems entry ${String(kind)}`);
        return check(
          spec.action,
          table(body.TableName),
          [leading(body[spec.field], `${kind}.${spec.field}`)],
          {
            'dynamodb:EnclosingOperation': operation,
          },
        );
      });
    default: {
      // Table-level and account-level calls (DescribeTable, CreateTable, ListTables, …):
      // no item, so no leading keys.
      const resource =
        typeof input.TableName === 'string'
          ? table(input.TableName)
          : typeof input.ResourceArn === 'string'
            ? input.ResourceArn
            : '*';
      return [check(action, resource)];
    }
  }
}

/**
 * The item-level condition keys of a single-item request: `dynamodb:Attributes`
 * (test/support/dynamodb-attributes.ts), `dynamodb:ReturnValues` for writes (always present:
 * "NONE unless otherwise specified") and `dynamodb:Select` for Query and Scan (the guide:
 * `ALL_ATTRIBUTES` unless specified; `SPECIFIC_ATTRIBUTES` when a projection is given).
 */
function itemContext(operation: string, input: JsonObject, action: string): Record<string, ContextValue> {
  let attributes: string[] | undefined;
  try {
    attributes = attributesFor(operation, input);
  } catch (error) {
    throw new Refusal(action, `${operation}: ${(error as Error).message}`);
  }
  const context: Record<string, ContextValue> = {};
  if (attributes !== undefined && attributes.length > 0) context['dynamodb:Attributes'] = attributes;
  if (['PutItem', 'UpdateItem', 'DeleteItem'].includes(operation))
    context['dynamodb:ReturnValues'] = typeof input.ReturnValues === 'string' ? input.ReturnValues : 'NONE';
  if (operation === 'Query' || operation === 'Scan') {
    const projected = input.ProjectionExpression !== undefined || input.AttributesToGet !== undefined;
    context['dynamodb:Select'] =
      typeof input.Select === 'string' ? input.Select : projected ? 'SPECIFIC_ATTRIBUTES' : 'ALL_ATTRIBUTES';
  }
  return context;
}

/**
 * The partition value a Query reads: from `KeyConditionExpression` (`#pk = :pk`, names through
 * ExpressionAttributeNames, either operand order) or the legacy `KeyConditions`.
 */
function queryPartition(input: JsonObject, partitionKey: string, action: string): string {
  const attr = (value: unknown) => {
    const scalar = isObject(value) ? (value.S ?? value.N ?? value.B) : undefined;
    return typeof scalar === 'string' ? scalar : undefined;
  };
  if (isObject(input.KeyConditions)) {
    const condition = input.KeyConditions[partitionKey];
    const value =
      isObject(condition) &&
      condition.ComparisonOperator === 'EQ' &&
      Array.isArray(condition.AttributeValueList)
        ? attr(condition.AttributeValueList[0])
        : undefined;
    if (value === undefined)
      throw new Refusal(action, `Query: no EQ condition on "${partitionKey}" in KeyConditions`);
    return value;
  }
  const expression = input.KeyConditionExpression;
  if (typeof expression !== 'string') throw new Refusal(action, 'Query has no KeyConditionExpression');
  const names = isObject(input.ExpressionAttributeNames) ? input.ExpressionAttributeNames : {};
  const values = isObject(input.ExpressionAttributeValues) ? input.ExpressionAttributeValues : {};
  const name = (token: string) => (token.startsWith('#') ? names[token] : token);
  const found = new Set<string>();
  // `a = b` comparisons only: in `<=` / `>=` the operand is not followed by spaces and `=`.
  for (const [, left, right] of expression.matchAll(/([#:]?[\w.-]+)\s*=\s*([#:]?[\w.-]+)/g)) {
    const [operand, placeholder] = (left as string).startsWith(':') ? [right, left] : [left, right];
    if (!(placeholder as string).startsWith(':') || name(operand as string) !== partitionKey) continue;
    const value = attr(values[placeholder as string]);
    if (value === undefined) throw new Refusal(action, `Query: ${placeholder} has no value`);
    found.add(value);
  }
  if (found.size !== 1)
    throw new Refusal(action, `Query: cannot find one "${partitionKey} = :value" in "${expression}"`);
  return [...found][0] as string;
}

// --- KMS ------------------------------------------------------------------------------------

/** Calls on no key, authorized on `*`. */
const KMS_KEYLESS = new Set([
  'CreateKey',
  'ListKeys',
  'ListAliases',
  'GenerateRandom',
  'ListRetirableGrants',
]);
/** Calls on two keys or on aliases: not modeled, refused. */
const KMS_UNMODELED = new Set([
  'ReEncrypt',
  'CreateAlias',
  'UpdateAlias',
  'DeleteAlias',
  'RetireGrant',
  'ReplicateKey',
  'UpdatePrimaryRegion',
  'CreateCustomKeyStore',
]);

/** The key a KMS call names, undefined for keyless calls and a Decrypt that names none. */
function kmsKeyId(operation: string, input: JsonObject): string | undefined {
  const action = `kms:${operation}`;
  if (KMS_UNMODELED.has(operation)) throw new Refusal(action, `${operation} is not modeled`);
  if (KMS_KEYLESS.has(operation)) return undefined;
  const keyId = input.KeyId;
  if (typeof keyId === 'string' && keyId !== '') return keyId;
  if (operation === 'Decrypt') return undefined;
  throw new Refusal(action, `${operation} names no KeyId`);
}

function kmsChecks(
  operation: string,
  input: JsonObject,
  resource: string,
  base: Record<string, ContextValue>,
  account: string,
): Check[] {
  const context: Record<string, ContextValue> = { ...base, 'kms:CallerAccount': account };
  if (isObject(input.EncryptionContext)) {
    const entries = Object.entries(input.EncryptionContext).filter(([, v]) => typeof v === 'string');
    for (const [key, value] of entries) context[`kms:EncryptionContext:${key}`] = value as string;
    if (entries.length > 0) context['kms:EncryptionContextKeys'] = entries.map(([key]) => key);
  }
  if (typeof input.SigningAlgorithm === 'string') {
    context['kms:SigningAlgorithm'] = input.SigningAlgorithm;
    // MessageType defaults to RAW (Sign, KMS API Reference).
    context['kms:MessageType'] = typeof input.MessageType === 'string' ? input.MessageType : 'RAW';
  }
  if (operation === 'CreateGrant') {
    // The caller calls KMS itself, so no integrated service makes this grant for an AWS
    // resource ("kms:GrantIsForAWSResource", KMS Developer Guide).
    context['kms:GrantIsForAWSResource'] = 'false';
    if (typeof input.GranteePrincipal === 'string') context['kms:GranteePrincipal'] = input.GranteePrincipal;
    if (typeof input.RetiringPrincipal === 'string')
      context['kms:RetiringPrincipal'] = input.RetiringPrincipal;
    if (Array.isArray(input.Operations))
      context['kms:GrantOperations'] = input.Operations.filter((o): o is string => typeof o === 'string');
  }
  const keyId = input.KeyId;
  if (typeof keyId === 'string' && /^(arn:[^:]+:kms:[^:]*:[^:]*:)?alias\//.test(keyId))
    context['kms:RequestAlias'] = keyId.slice(keyId.indexOf('alias/'));
  return [{ action: `kms:${operation}`, resource, context }];
}

// --- wire -----------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  /** A streamed upstream body … */
  stream?: IncomingMessage | undefined;
  /** … or a buffered one. */
  body?: Buffer;
}

function writeReply(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.headers);
  if (reply.stream !== undefined) {
    reply.stream.on('error', () => res.destroy());
    reply.stream.pipe(res);
  } else res.end(reply.body);
}

/** AWS's AccessDeniedException, as DynamoDB and KMS send it. */
function accessDenied(service: GatewayService, message: string): Reply {
  return errorReply(service, 'AccessDeniedException', message);
}

function errorReply(service: GatewayService, type: string, message: string): Reply {
  // DynamoDB qualifies the type and capitalizes Message; KMS does neither.
  const payload =
    service === 'dynamodb'
      ? { __type: `com.amazon.coral.service#${type}`, Message: message }
      : { __type: type, message };
  const body = Buffer.from(JSON.stringify(payload));
  return {
    status: 400,
    headers: {
      'content-type': CONTENT_TYPE[service],
      'content-length': String(body.length),
      'x-amzn-errortype': type,
      'x-amzn-requestid': randomUUID(),
    },
    body,
  };
}

function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

/** The region in the request's SigV4 credential scope (`Credential=AKID/date/region/service/aws4_request`). */
function signedRegion(headers: IncomingHttpHeaders): string | undefined {
  return /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(headers.authorization ?? ''))?.[1];
}

/** The ARN IAM names in denials: a role acts through an `assumed-role` session. */
function callerArn(
  principalArn: string,
  principal: { partition: string; account: string; resource: string },
  session: string,
) {
  if (!principal.resource.startsWith('role/')) return principalArn;
  const name = principal.resource.split('/').at(-1) as string;
  return `arn:${principal.partition}:sts::${principal.account}:assumed-role/${name}/${session}`;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(body: Buffer | undefined): JsonObject | undefined {
  try {
    const parsed: unknown = JSON.parse(body?.toString('utf8') ?? '');
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function entriesOf(value: unknown, action: string): [string, unknown][] {
  if (!isObject(value)) throw new Refusal(action, 'RequestItems is missing');
  return Object.entries(value);
}

function listIn(value: unknown, field: string, action: string): unknown[] {
  const list = isObject(value) ? value[field] : undefined;
  if (!Array.isArray(list)) throw new Refusal(action, `${field} is missing`);
  return list;
}
