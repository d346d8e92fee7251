/**
 * IAM decisions by `@cloud-copilot/iam-simulate` (issue 13): a maintained simulator, with
 * every context key of the request passed explicitly, for the policies our stack attaches.
 *
 * What it cannot do, and what stays hand-written in test/support/iam-policy.ts:
 * - condition keys whose name carries a variable part: `kms:EncryptionContext:<key>` (the
 *   service lists `kms:EncryptionContext:${EncryptionContextKey}`), and the keys an OIDC
 *   provider defines (`token.actions.githubusercontent.com:sub` / `:aud`, a Cognito pool's
 *   `…:sub`). The simulator drops such a key from the request without a word, so a
 *   condition on it fails "because missing" and a denial passes for the wrong reason. Here a
 *   request that carries such a key is refused (TypeError), and so is any evaluation in which
 *   the simulator reports a condition key we gave it as missing; those requests, the KMS
 *   encryption-context checks and the web-identity trust policies, go to iam-policy.ts;
 * - CloudFormation intrinsics: a synthesized template's policies are resolved to plain
 *   strings first (`resolvedValues`, with `cfnResolver`), then simulated.
 */
import { allowedContextKeysForRequest, runSimulation } from '@cloud-copilot/iam-simulate';
import {
  type ContextValue,
  type Decision,
  type IntrinsicResolver,
  type Policy,
  type PolicyStatement,
  parseArn,
  type RequestContext,
  resolvedValues,
  roleStatementsFromTemplate,
  statementsOf,
} from './iam-policy.js';

export type Outcome = 'allow' | 'deny' | 'implicit-deny';

export interface SimulatedRequest {
  /** The caller's ARN (a role); its account is the request's. */
  principal: string;
  /** The caller's identity policies. */
  identity: Policy;
  /** A resource-based policy (a key policy), when the resource has one. */
  resourcePolicy?: Policy | undefined;
  request: RequestContext;
  /** For policies taken from a template: resolves their intrinsics. */
  resolve?: IntrinsicResolver | undefined;
}

/**
 * The simulator's decision for one request, every context key given explicitly.
 * @example
 * await simulate({ principal: roleArn, identity: statements, request: {
 *   action: 'dynamodb:GetItem', resource: tableArn,
 *   context: { 'dynamodb:LeadingKeys': ['acme/web'], 'dynamodb:Attributes': ['pk', 'sk'] },
 * }, resolve }); // 'allow'
 */
export async function simulate(input: SimulatedRequest): Promise<Outcome> {
  const { decision } = await decide(input);
  return decision === 'allow' ? 'allow' : decision === 'deny' ? 'deny' : 'implicit-deny';
}

/**
 * As `simulate`, as the hand-written evaluator answers: the decision and the deciding
 * statement (its Sid, or `Statement[<index>]`), from the identity policies or the resource's.
 */
export async function decide(input: SimulatedRequest): Promise<Decision> {
  const { request } = input;
  const account = parseArn(input.principal)?.account;
  if (account === undefined) throw new TypeError(`${input.principal} is not an ARN`);
  await assertEvaluable(request);
  const document = (policy: Policy) => ({
    Version: '2012-10-17',
    Statement: statementsOf(policy).map((s, i) => resolvedStatement(s, `Statement[${i}]`, input.resolve)),
  });
  const result = await runSimulation(
    {
      request: {
        principal: input.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: account },
        contextVariables: Object.fromEntries(
          Object.entries(request.context).map(([k, v]) => [k, typeof v === 'string' ? v : [...v]]),
        ),
      },
      identityPolicies: [{ name: 'identity', policy: document(input.identity) }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(input.resourcePolicy === undefined ? {} : { resourcePolicy: document(input.resourcePolicy) }),
    },
    {},
  );
  if (result.resultType !== 'single')
    throw new TypeError(`the simulator could not run ${request.action}: ${JSON.stringify(result)}`);
  assertNoneMissing(result.result, request.context);
  const outcome = result.overallResult;
  const analysis = result.result.analysis;
  const deciding = (kind: 'allowStatements' | 'denyStatements') =>
    [analysis?.identityAnalysis, analysis?.resourceAnalysis].flatMap((a) => a?.[kind] ?? [])[0]?.statement;
  const named = (statement: ReturnType<typeof deciding>) =>
    statement === undefined ? {} : { statement: statement.sid() ?? `Statement[${statement.index() - 1}]` };
  if (outcome === 'Allowed') return { decision: 'allow', ...named(deciding('allowStatements')) };
  if (outcome === 'ExplicitlyDenied') return { decision: 'deny', ...named(deciding('denyStatements')) };
  return { decision: 'implicit-deny' };
}

/** Refuse a request carrying a key the simulator would drop (see the module comment). */
async function assertEvaluable(request: RequestContext): Promise<void> {
  const [service, action] = request.action.split(':') as [string, string];
  const allowed = new Set(
    await allowedContextKeysForRequest(service, action, request.resource, false, undefined),
  );
  for (const key of Object.keys(request.context)) {
    if (!allowed.has(key.toLowerCase()))
      throw new TypeError(
        `the simulator does not evaluate ${key} for ${request.action} (it would drop it silently); evaluate this request with test/support/iam-policy.ts`,
      );
  }
}

/** Refuse a result in which a condition on a key we gave was evaluated as if the key were absent. */
function assertNoneMissing(result: unknown, context: Readonly<Record<string, ContextValue>>): void {
  const given = new Set(Object.keys(context).map((k) => k.toLowerCase()));
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const key = record.conditionKeyValue;
    if (record.failedBecauseMissing === true && typeof key === 'string' && given.has(key.toLowerCase()))
      throw new TypeError(`the simulator evaluated ${key} as missing although the request carries it`);
    Object.values(record).forEach(visit);
  };
  visit(result);
}

/** A statement with every value as the strings IAM sees. */
function resolvedStatement(statement: PolicyStatement, where: string, resolve?: IntrinsicResolver) {
  const strings = (value: unknown, field: string) => {
    const values = resolvedValues(value, `${where} ${field}`, resolve);
    return values.length === 1 ? values[0] : values;
  };
  const byKey = (value: unknown, field: string, each: (v: unknown, f: string) => unknown) =>
    Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, each(v, `${field}.${k}`)]),
    );
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(statement)) {
    if (value === undefined) continue;
    if (field === 'Sid' || field === 'Effect') out[field] = value;
    else if (field === 'Condition')
      out[field] = byKey(value, field, (operator, f) => byKey(operator, f, strings));
    else if ((field === 'Principal' || field === 'NotPrincipal') && value !== '*')
      out[field] = byKey(value, field, strings);
    else out[field] = strings(value, field);
  }
  return out;
}

/**
 * `resolve`, and for an intrinsic it does not know a placeholder ARN that matches no real
 * resource: the simulator reads every statement, also those on resources no request in a test
 * touches (log groups, queues, keys of other tests).
 */
export function orPlaceholder(resolve: IntrinsicResolver): IntrinsicResolver {
  return (intrinsic) => resolve(intrinsic) ?? `arn:aws:placeholder:::${JSON.stringify(intrinsic)}`;
}

/**
 * Whether identity policies (from a template: `resolve` knows their intrinsics) allow an
 * item request on a table, made by a role of the table's account.
 */
export async function allowsItem(
  identity: Policy,
  request: RequestContext,
  resolve: IntrinsicResolver,
): Promise<boolean> {
  const account = parseArn(request.resource)?.account;
  return (
    (await simulate({
      principal: `arn:aws:iam::${account}:role/caller`,
      identity,
      request,
      resolve: orPlaceholder(resolve),
    })) === 'allow'
  );
}

/**
 * Whether a role of a synthesized template may make an item write on one partition of
 * `table`, naming `attributes` (undefined: none, as a transaction item).
 * @example
 * const mayWrite = itemWriteCheck(template, TABLE_ARN, resolve);
 * await mayWrite(roleId, 'dynamodb:PutItem', 'audit#acme/web', ['pk', 'sk']); // true
 */
export function itemWriteCheck(
  template: Readonly<Record<string, unknown>>,
  table: string,
  resolve: IntrinsicResolver,
): (role: string, action: string, partition: string, attributes: string[] | undefined) => Promise<boolean> {
  return (role, action, partition, attributes) =>
    allowsItem(
      roleStatementsFromTemplate(template, role),
      {
        action,
        resource: table,
        context: {
          'dynamodb:LeadingKeys': [partition],
          ...(attributes === undefined ? {} : { 'dynamodb:Attributes': attributes }),
        },
      },
      resolve,
    );
}
