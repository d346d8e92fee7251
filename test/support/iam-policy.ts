/**
 * An IAM policy evaluator for the subset of the policy language Egg Carton's roles and key
 * policies use, so tests can enforce them where moto cannot (moto denies every statement
 * that has a Condition). Item requests are decided by `@cloud-copilot/iam-simulate`
 * (iam-simulator.ts); this evaluator is kept for what that simulator cannot do: conditions on
 * `kms:EncryptionContext:<key>` (so KMS requests, with the key policy, stay on this path:
 * `evaluateKeyAccess`; those on the anchor and signing keys carry no context and could move) and on an OIDC provider's keys (`<host>:sub`, `<host>:aud`: the trust
 * policies, `evaluateWebIdentityTrust`), which the simulator drops from the request; and
 * reading templates (`cfnResolver`, `roleStatementsFromTemplate`, `keyPolicyFromTemplate`,
 * `resolvedValues`). test/unit/infra-isolation.test.ts checks both agree on item requests.
 * It follows "Policy evaluation logic" and "IAM JSON policy elements:
 * Condition operators" (IAM User Guide):
 *
 * - an explicit `Deny` that applies wins; otherwise an applying `Allow` allows; otherwise the
 *   request is implicitly denied;
 * - a statement applies when its Action (or NotAction), its Resource (or NotResource) and
 *   every condition match. Actions compare case-insensitively, resources case-sensitively,
 *   both with `*` and `?` wildcards;
 * - within a Condition, operators AND, keys within one operator AND, and the values listed for
 *   one key OR. Context key names are case-insensitive ("IAM JSON policy elements: Condition");
 * - operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
 *   StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool, Null, each
 *   (but Null) with `…IfExists` and the set qualifiers `ForAllValues:` / `ForAnyValue:`.
 *
 * Policies may be written by hand or taken as they appear in a synthesized CloudFormation
 * template: values there can be intrinsics (`{"Fn::GetAtt": […]}`, `{"Ref": …}`,
 * `{"Fn::Join": […]}`). `Fn::Join` is evaluated here; every other intrinsic goes to the
 * caller's `resolve` (see `cfnResolver`), and one it cannot resolve is an error, never a
 * silent mismatch. Anything this evaluator does not model (another operator, policy
 * variables, NotPrincipal, a plain operator over a multivalued key) throws a TypeError
 * rather than guess.
 */

/** A request context value: one string, or the set a multivalued key (`dynamodb:LeadingKeys`) holds. */
export type ContextValue = string | readonly string[];

/** What IAM evaluates: the action, the resource ARN and the condition keys of one authorization. */
export interface RequestContext {
  /** `service:Action`, e.g. `dynamodb:GetItem`. */
  action: string;
  /** The resource ARN, e.g. `arn:aws:dynamodb:us-east-1:123456789012:table/egg-carton`. */
  resource: string;
  /** Condition keys present in the request; a key that is absent here is absent for IAM. */
  context: Readonly<Record<string, ContextValue>>;
}

export type DecisionKind = 'allow' | 'deny' | 'implicit-deny';

export interface Decision {
  decision: DecisionKind;
  /** The deciding statement's `Sid`, or `Statement[<index>]` when it has none. */
  statement?: string;
}

/** One statement, as JSON parsing or a template gives it: fields are checked when evaluated. */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action?: unknown;
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Principal?: unknown;
  readonly NotPrincipal?: unknown;
  readonly Condition?: unknown;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: PolicyStatement | readonly PolicyStatement[];
}

/** A policy document, or its statements (several documents' statements may be concatenated). */
export type Policy = PolicyDocument | readonly PolicyStatement[];

/** A CloudFormation intrinsic: `{"Ref": "X"}`, `{"Fn::GetAtt": ["X", "Arn"]}`, … */
export type Intrinsic = Readonly<Record<string, unknown>>;

/** Maps an intrinsic to its concrete value(s); undefined when it does not know it. */
export type IntrinsicResolver = (intrinsic: Intrinsic) => string | readonly string[] | undefined;

export interface EvaluateOptions {
  resolve?: IntrinsicResolver | undefined;
}

/**
 * The identity-based policy decision for one request.
 * @example
 * evaluatePolicy(
 *   [{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: tableArn,
 *      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } } }],
 *   { action: 'dynamodb:GetItem', resource: tableArn, context: { 'dynamodb:LeadingKeys': ['b'] } },
 * ); // { decision: 'implicit-deny' }
 */
export function evaluatePolicy(
  policy: Policy,
  request: RequestContext,
  options: EvaluateOptions = {},
): Decision {
  const resolve = resolver(options.resolve);
  let allowed: string | undefined;
  for (const [index, statement] of statementsOf(policy).entries()) {
    if (statement.Principal !== undefined || statement.NotPrincipal !== undefined)
      throw new TypeError(`${sidOf(statement, index)}: an identity-based policy has no Principal`);
    if (!appliesTo(statement, index, request, resolve, true)) continue;
    if (effectOf(statement, index) === 'Deny')
      return { decision: 'deny', statement: sidOf(statement, index) };
    allowed ??= sidOf(statement, index);
  }
  return allowed === undefined ? { decision: 'implicit-deny' } : { decision: 'allow', statement: allowed };
}

/** Who a resource-based policy's applying Allow names: the caller itself, or its account (delegating to IAM). */
export type Grantee = 'principal' | 'account';

export interface ResourceDecision extends Decision {
  grantee?: Grantee;
}

/** The principal making a request, for resource-based policies. */
export interface Caller {
  /** The role (or user) ARN, as `aws:PrincipalArn` carries it. */
  principalArn: string;
}

/**
 * The decision of a resource-based policy (a KMS key policy) for `caller`. A statement's
 * Principal matches when it is `*`, the caller's ARN, or the caller's account (its root ARN
 * or bare id); an Allow naming the caller itself is preferred over one naming its account.
 */
export function evaluateResourcePolicy(
  policy: Policy,
  request: RequestContext,
  caller: Caller,
  options: EvaluateOptions = {},
): ResourceDecision {
  const resolve = resolver(options.resolve);
  let allowed: { statement: string; grantee: Grantee } | undefined;
  for (const [index, statement] of statementsOf(policy).entries()) {
    const sid = sidOf(statement, index);
    if (statement.NotPrincipal !== undefined) throw new TypeError(`${sid}: NotPrincipal is not modeled`);
    if (statement.Principal === undefined)
      throw new TypeError(`${sid}: a resource-based policy needs a Principal`);
    const grantee = principalMatch(statement.Principal, caller, resolve, sid);
    if (grantee === undefined || !appliesTo(statement, index, request, resolve, false)) continue;
    if (effectOf(statement, index) === 'Deny') return { decision: 'deny', statement: sid };
    if (allowed === undefined || (allowed.grantee === 'account' && grantee === 'principal'))
      allowed = { statement: sid, grantee };
  }
  return allowed === undefined ? { decision: 'implicit-deny' } : { decision: 'allow', ...allowed };
}

/** `sts:AssumeRoleWithWebIdentity` for a role: the token's provider and its condition keys. */
export interface WebIdentityRequest {
  roleArn: string;
  /** The IAM OIDC provider the token's issuer is registered as: `arn:aws:iam::<account>:oidc-provider/<host>`. */
  providerArn: string;
  /** The token's condition keys: `<host>:sub`, `<host>:aud`, … */
  context: Readonly<Record<string, ContextValue>>;
}

/**
 * A role trust policy's decision for a web-identity token ("Creating a role for web identity
 * or OIDC federation", IAM User Guide): a statement applies when its Principal's `Federated`
 * names the token's provider, its Action covers `sts:AssumeRoleWithWebIdentity`, and every
 * condition holds; Resource is not used. Other principals never match a web identity.
 * @example
 * evaluateWebIdentityTrust(trustPolicy, {
 *   roleArn, providerArn, context: { 'token.actions.githubusercontent.com:sub': sub },
 * });
 */
export function evaluateWebIdentityTrust(
  policy: Policy,
  request: WebIdentityRequest,
  options: EvaluateOptions = {},
): Decision {
  const resolve = resolver(options.resolve);
  const call = {
    action: 'sts:AssumeRoleWithWebIdentity',
    resource: request.roleArn,
    context: request.context,
  };
  let allowed: string | undefined;
  for (const [index, statement] of statementsOf(policy).entries()) {
    const sid = sidOf(statement, index);
    if (statement.NotPrincipal !== undefined) throw new TypeError(`${sid}: NotPrincipal is not modeled`);
    const principal = statement.Principal;
    if (!isPlainObject(principal) || principal.Federated === undefined) continue;
    if (!resolve(principal.Federated, `${sid} Principal`).includes(request.providerArn)) continue;
    if (!appliesTo(statement, index, call, resolve, false)) continue;
    if (effectOf(statement, index) === 'Deny') return { decision: 'deny', statement: sid };
    allowed ??= sid;
  }
  return allowed === undefined ? { decision: 'implicit-deny' } : { decision: 'allow', statement: allowed };
}

export interface KeyAccessDecision extends Decision {
  /** Which policy decided: the caller's identity policies, or the key policy. */
  policy: 'identity' | 'key';
}

/**
 * A KMS request's decision from the caller's identity policies and, when given, the key's
 * policy ("Key policies in AWS KMS"; same-account callers only). An explicit deny in either
 * wins. Without a key policy allowing it, IAM policies have no effect; a key policy Allow
 * naming the caller grants by itself; one naming the account root delegates to IAM, so the
 * identity policies must allow too. Without `keyPolicy` the identity policies alone decide.
 */
export function evaluateKeyAccess(
  policies: { identity: Policy; keyPolicy?: Policy | undefined },
  request: RequestContext,
  caller: Caller,
  options: EvaluateOptions = {},
): KeyAccessDecision {
  const identity = evaluatePolicy(policies.identity, request, options);
  if (policies.keyPolicy === undefined || identity.decision === 'deny')
    return { ...identity, policy: 'identity' };
  const key = evaluateResourcePolicy(policies.keyPolicy, request, caller, options);
  if (key.decision === 'deny') return { decision: 'deny', ...statementOf(key), policy: 'key' };
  if (key.decision === 'allow' && key.grantee === 'principal')
    return { decision: 'allow', ...statementOf(key), policy: 'key' };
  if (key.decision === 'allow') return { ...identity, policy: 'identity' };
  return { decision: 'implicit-deny', policy: 'key' };
}

/**
 * IAM's wildcard match: `*` any run of characters (none included), `?` exactly one.
 * @example iamGlob('dynamodb:Get*', 'dynamodb:GetItem') // true
 */
export function iamGlob(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .split(/([*?])/)
    .map((part) => (part === '*' ? '.*' : part === '?' ? '.' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'si' : 's').test(value);
}

/**
 * ARN matching as ArnLike does it (ArnEquals is documented as the same match): each of the
 * six colon-separated components separately, with wildcards; the last one keeps any further
 * colons. A value that is not a six-part ARN matches nothing.
 */
export function arnMatches(pattern: string, arn: string): boolean {
  const p = arnParts(pattern);
  const v = arnParts(arn);
  if (p === undefined || v === undefined) return false;
  return p.every((part, i) => iamGlob(part, v[i] as string));
}

function arnParts(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/** A Resource element entry against the request's resource: `*`, or an ARN pattern. */
function resourceMatches(pattern: string, resource: string): boolean {
  if (pattern === '*') return true;
  // IAM refuses a policy whose Resource is neither `*` nor a six-part ARN; so do we.
  if (arnParts(pattern) === undefined) throw new TypeError(`Resource ${pattern} is not an ARN or "*"`);
  // Component by component, so a `*` in the region cannot swallow the account.
  return arnMatches(pattern, resource);
}

export function statementsOf(policy: Policy): readonly PolicyStatement[] {
  if (isStatementList(policy)) return policy;
  const { Statement } = policy;
  return isStatementList(Statement) ? Statement : [Statement];
}

function isStatementList(value: unknown): value is readonly PolicyStatement[] {
  return Array.isArray(value);
}

const sidOf = (statement: PolicyStatement, index: number) => statement.Sid ?? `Statement[${index}]`;

function statementOf(decision: Decision): { statement?: string } {
  return decision.statement === undefined ? {} : { statement: decision.statement };
}

function effectOf(statement: PolicyStatement, index: number): 'Allow' | 'Deny' {
  if (statement.Effect === 'Allow' || statement.Effect === 'Deny') return statement.Effect;
  throw new TypeError(
    `${sidOf(statement, index)}: Effect must be "Allow" or "Deny", not ${JSON.stringify(statement.Effect)}`,
  );
}

function appliesTo(
  statement: PolicyStatement,
  index: number,
  request: RequestContext,
  resolve: Resolve,
  resourceRequired: boolean,
): boolean {
  const sid = sidOf(statement, index);
  effectOf(statement, index);
  // Action names are case-insensitive ("IAM JSON policy elements: Action").
  const action = (patterns: string[]) => patterns.some((p) => iamGlob(p, request.action, true));
  if (!element(statement.Action, statement.NotAction, 'Action', sid, resolve, action, true)) return false;
  const resource = (patterns: string[]) => patterns.some((p) => resourceMatches(p, request.resource));
  if (
    !element(statement.Resource, statement.NotResource, 'Resource', sid, resolve, resource, resourceRequired)
  )
    return false;
  return conditionsHold(statement.Condition, request.context, resolve, sid);
}

/** An element and its `Not…` twin: exactly one may be present; absent (when optional) matches. */
function element(
  positive: unknown,
  negative: unknown,
  name: string,
  sid: string,
  resolve: Resolve,
  matches: (patterns: string[]) => boolean,
  required: boolean,
): boolean {
  if (positive !== undefined && negative !== undefined)
    throw new TypeError(`${sid}: both ${name} and Not${name}`);
  if (positive !== undefined) return matches(resolve(positive, `${sid} ${name}`));
  if (negative !== undefined) return !matches(resolve(negative, `${sid} Not${name}`));
  if (required) throw new TypeError(`${sid}: no ${name} or Not${name}`);
  return true;
}

function principalMatch(
  principal: unknown,
  caller: Caller,
  resolve: Resolve,
  sid: string,
): Grantee | undefined {
  const arn = parseArn(caller.principalArn);
  if (arn === undefined)
    throw new TypeError(`the caller's principal ARN ${caller.principalArn} is not an ARN`);
  const values =
    principal === '*'
      ? ['*']
      : typeof principal === 'object' && principal !== null && !Array.isArray(principal)
        ? 'AWS' in principal
          ? resolve((principal as { AWS: unknown }).AWS, `${sid} Principal`)
          : [] // Service, Federated, CanonicalUser: never an IAM role calling with its credentials.
        : undefined;
  if (values === undefined) throw new TypeError(`${sid}: malformed Principal ${JSON.stringify(principal)}`);
  if (values.includes('*') || values.includes(caller.principalArn)) return 'principal';
  const root = `arn:${arn.partition}:iam::${arn.account}:root`;
  if (values.includes(root) || values.includes(arn.account)) return 'account';
  return undefined;
}

/** The parts of an ARN that authorization needs. */
export function parseArn(
  arn: string,
): { partition: string; service: string; account: string; resource: string } | undefined {
  const parts = arnParts(arn);
  if (parts === undefined || parts[0] !== 'arn') return undefined;
  const [, partition, service, , account, resource] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return { partition, service, account, resource };
}

// --- conditions ---------------------------------------------------------------------------

type ValueTest = (policyValue: string, requestValue: string) => boolean;

const equals: ValueTest = (p, v) => p === v;
const equalsIgnoreCase: ValueTest = (p, v) => p.toLowerCase() === v.toLowerCase();
const like: ValueTest = (p, v) => iamGlob(p, v);
const bool: ValueTest = (p, v) => p.toLowerCase() === v.toLowerCase();

/** Operators by lower-cased name: the per-value test and whether the operator negates it. */
const OPERATORS: ReadonlyMap<string, { test: ValueTest; negated: boolean }> = new Map([
  ['stringequals', { test: equals, negated: false }],
  ['stringnotequals', { test: equals, negated: true }],
  ['stringequalsignorecase', { test: equalsIgnoreCase, negated: false }],
  ['stringnotequalsignorecase', { test: equalsIgnoreCase, negated: true }],
  ['stringlike', { test: like, negated: false }],
  ['stringnotlike', { test: like, negated: true }],
  // "ArnEquals, ArnLike: case-sensitive matching of the ARN. Each of the six colon-delimited
  // components of the ARN is checked separately and each can include wildcards."
  ['arnequals', { test: arnMatches, negated: false }],
  ['arnlike', { test: arnMatches, negated: false }],
  ['arnnotequals', { test: arnMatches, negated: true }],
  ['arnnotlike', { test: arnMatches, negated: true }],
  ['bool', { test: bool, negated: false }],
]);

function conditionsHold(
  condition: unknown,
  context: Readonly<Record<string, ContextValue>>,
  resolve: Resolve,
  sid: string,
): boolean {
  if (condition === undefined) return true;
  if (!isPlainObject(condition)) throw new TypeError(`${sid}: Condition must be an object`);
  const lookup = new Map<string, readonly string[]>();
  for (const [key, value] of Object.entries(context))
    lookup.set(key.toLowerCase(), typeof value === 'string' ? [value] : value);
  // Operators AND; keys within an operator AND.
  return Object.entries(condition).every(([operator, block]) => {
    if (!isPlainObject(block)) throw new TypeError(`${sid}: ${operator} must map keys to values`);
    return Object.entries(block).every(([key, wanted]) =>
      keyHolds(operator, resolve(wanted, `${sid} ${operator} ${key}`), lookup.get(key.toLowerCase()), sid),
    );
  });
}

/** One condition key: `values` are the request's (undefined when absent), `wanted` the policy's (OR). */
function keyHolds(
  operator: string,
  wanted: string[],
  values: readonly string[] | undefined,
  sid: string,
): boolean {
  const [qualifier, name] = operator.includes(':') ? operator.split(':', 2) : [undefined, operator];
  const set = qualifier?.toLowerCase();
  if (set !== undefined && set !== 'forallvalues' && set !== 'foranyvalue')
    throw new TypeError(`${sid}: unknown set qualifier ${qualifier}`);
  const lower = (name as string).toLowerCase();
  const present = values !== undefined && values.length > 0;
  if (lower === 'null') {
    if (set !== undefined) throw new TypeError(`${sid}: ${operator} is not modeled`);
    // "Null": true holds when the key is absent, false when it is present.
    return wanted.some((w) => (w.toLowerCase() === 'true') === !present);
  }
  const ifExists = lower.endsWith('ifexists');
  const spec = OPERATORS.get(ifExists ? lower.slice(0, -'ifexists'.length) : lower);
  if (spec === undefined) throw new TypeError(`${sid}: the condition operator ${operator} is not modeled`);
  for (const w of wanted)
    if (w.includes('${')) throw new TypeError(`${sid}: policy variables (${w}) are not modeled`);
  const matches = (value: string) => {
    const any = wanted.some((w) => spec.test(w, value));
    return spec.negated ? !any : any;
  };
  if (!present && ifExists) return true;
  if (set === 'forallvalues') {
    // PITFALL, faithfully: ForAllValues holds when the request has no value for the key at
    // all ("it also returns true if there are no context keys in the request"), so an Allow
    // with ForAllValues on dynamodb:LeadingKeys also allows Scan, which has no leading key.
    if (!present) return true;
    return values.every(matches);
  }
  if (set === 'foranyvalue') return present && values.some(matches);
  // A plain operator on an absent key is false, except that negated operators are true.
  if (!present) return spec.negated;
  if (values.length > 1)
    throw new TypeError(
      `${sid}: ${operator} without ForAllValues/ForAnyValue on a key with ${values.length} values: AWS does not document this, so it is not modeled`,
    );
  return matches(values[0] as string);
}

// --- intrinsics ---------------------------------------------------------------------------

type Resolve = (value: unknown, where: string) => string[];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Policy element values as strings: scalars, lists, and intrinsics through `resolve`. */
/**
 * The strings IAM sees for a policy value as a template holds it: `Fn::Join` evaluated here,
 * every other intrinsic by `resolve` (an unresolved one is a TypeError naming `where`).
 */
export function resolvedValues(value: unknown, where: string, resolve?: IntrinsicResolver): string[] {
  return resolver(resolve)(value, where);
}

function resolver(resolve: IntrinsicResolver | undefined): Resolve {
  const values = (value: unknown, where: string): string[] => {
    if (typeof value === 'string') return [value];
    if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
    if (Array.isArray(value)) return value.flatMap((v) => values(v, where));
    if (!isPlainObject(value) || Object.keys(value).length !== 1)
      throw new TypeError(`${where}: cannot read ${JSON.stringify(value)} as a policy value`);
    if ('Fn::Join' in value) {
      const args = value['Fn::Join'];
      if (!Array.isArray(args) || typeof args[0] !== 'string' || !Array.isArray(args[1]))
        throw new TypeError(`${where}: malformed Fn::Join ${JSON.stringify(value)}`);
      const parts = (args[1] as unknown[]).map((part) => {
        const resolved = values(part, where);
        if (resolved.length !== 1)
          throw new TypeError(`${where}: a Fn::Join part resolved to ${resolved.length} values`);
        return resolved[0] as string;
      });
      return [parts.join(args[0])];
    }
    const resolved = resolve?.(value);
    if (resolved === undefined)
      throw new TypeError(
        `${where}: unresolved intrinsic ${JSON.stringify(value)}; pass a resolver that knows it`,
      );
    return typeof resolved === 'string' ? [resolved] : [...resolved];
  };
  return values;
}

export interface CfnResolverOptions {
  account: string;
  region: string;
  partition?: string;
  urlSuffix?: string;
  /** `{"Ref": logicalId}` → value (a table's Ref is its name, a role's its name, a key's its id). */
  refs?: Readonly<Record<string, string>>;
  /** `{"Fn::GetAtt": [logicalId, attribute]}` → value, keyed `logicalId.attribute` (e.g. `TableCD117FA1.Arn`). */
  attributes?: Readonly<Record<string, string>>;
  /**
   * The synthesized template: then the `Ref` and `Arn` of its IAM roles and DynamoDB tables
   * need no mapping. A role is named by its `RoleName` or else its logical id, under its
   * `Path`; a table by its `TableName` or else its logical id. A KMS key's id cannot be
   * known before it exists, so keys still go in `attributes` / `refs`.
   */
  template?: Readonly<Record<string, unknown>>;
}

/**
 * A resolver for synthesized templates: the pseudo parameters (`AWS::AccountId`,
 * `AWS::Region`, `AWS::Partition`, `AWS::URLSuffix`), the refs and attributes you map, and
 * (given `template`) the names and ARNs of its roles and tables.
 * @example
 * const resolve = cfnResolver({
 *   account: '123456789012', region: 'us-east-1', template,
 *   attributes: { 'DataKey17AFBB84.Arn': keyArn }, // moto's key
 * });
 * const roleArn = resolve({ 'Fn::GetAtt': ['GrantAcmeWebProd40754F56', 'Arn'] });
 */
export function cfnResolver(options: CfnResolverOptions): IntrinsicResolver {
  const partition = options.partition ?? 'aws';
  const pseudo: Record<string, string> = {
    'AWS::AccountId': options.account,
    'AWS::Region': options.region,
    'AWS::Partition': partition,
    'AWS::URLSuffix': options.urlSuffix ?? 'amazonaws.com',
  };
  const resources = options.template === undefined ? {} : resourcesOf(options.template);
  /** A role's, table's or KMS key's physical name and ARN, from the template. */
  const physical = (id: string): { name: string; arn: string } | undefined => {
    const resource = resources[id];
    const props = resource?.Properties ?? {};
    if (resource?.Type === 'AWS::IAM::Role') {
      const name = typeof props.RoleName === 'string' ? props.RoleName : id;
      const path = typeof props.Path === 'string' ? props.Path : '/';
      return { name, arn: `arn:${partition}:iam::${options.account}:role${path}${name}` };
    }
    if (resource?.Type === 'AWS::DynamoDB::Table') {
      const name = typeof props.TableName === 'string' ? props.TableName : id;
      return { name, arn: `arn:${partition}:dynamodb:${options.region}:${options.account}:table/${name}` };
    }
    // A key's id exists only once KMS creates it: one named for its logical id stands in,
    // unless `attributes` gives one (a key a test calls, as moto's).
    if (resource?.Type === 'AWS::KMS::Key')
      return { name: id, arn: `arn:${partition}:kms:${options.region}:${options.account}:key/${id}` };
    return undefined;
  };
  return (intrinsic) => {
    const ref = intrinsic.Ref;
    if (typeof ref === 'string') return pseudo[ref] ?? options.refs?.[ref] ?? physical(ref)?.name;
    const getAtt = intrinsic['Fn::GetAtt'];
    const [id, attribute] = Array.isArray(getAtt)
      ? getAtt
      : typeof getAtt === 'string'
        ? getAtt.split(/\.(.*)/s)
        : [];
    if (typeof id !== 'string' || typeof attribute !== 'string') return undefined;
    return (
      options.attributes?.[`${id}.${attribute}`] ?? (attribute === 'Arn' ? physical(id)?.arn : undefined)
    );
  };
}

// --- templates ----------------------------------------------------------------------------

type TemplateResources = Record<string, { Type?: unknown; Properties?: Record<string, unknown> }>;

function resourcesOf(template: Readonly<Record<string, unknown>>): TemplateResources {
  const resources = template.Resources;
  if (!isPlainObject(resources)) throw new TypeError('the template has no Resources');
  return resources as TemplateResources;
}

const listOf = (value: unknown): unknown[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Every identity-policy statement a synthesized template attaches to one role: its inline
 * `Policies` and the `AWS::IAM::Policy` / `AWS::IAM::ManagedPolicy` resources whose `Roles`
 * name it by `Ref`. Managed policy ARNs on the role are not modeled (a TypeError).
 * @example roleStatementsFromTemplate(Template.fromStack(stack).toJSON(), 'GrantAcmeWebProd40754F56')
 */
export function roleStatementsFromTemplate(
  template: Readonly<Record<string, unknown>>,
  roleLogicalId: string,
): PolicyStatement[] {
  const resources = resourcesOf(template);
  const role = resources[roleLogicalId];
  if (role?.Type !== 'AWS::IAM::Role')
    throw new TypeError(`${roleLogicalId} is not an AWS::IAM::Role in the template`);
  if (listOf(role.Properties?.ManagedPolicyArns).length > 0)
    throw new TypeError(`${roleLogicalId} has ManagedPolicyArns, which are not modeled`);
  const documents: unknown[] = listOf(role.Properties?.Policies).map(
    (p) => (p as { PolicyDocument?: unknown }).PolicyDocument,
  );
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const attached = listOf(resource.Properties?.Roles).some(
      (r) => isPlainObject(r) && r.Ref === roleLogicalId && Object.keys(r).length === 1,
    );
    if (attached) documents.push(resource.Properties?.PolicyDocument);
  }
  return documents.flatMap((document) => {
    if (!isPlainObject(document) || document.Statement === undefined)
      throw new TypeError(`a policy of ${roleLogicalId} has no PolicyDocument.Statement`);
    return [...statementsOf(document as unknown as PolicyDocument)];
  });
}

/** The key policy statements of an `AWS::KMS::Key` in a synthesized template. */
export function keyPolicyFromTemplate(
  template: Readonly<Record<string, unknown>>,
  keyLogicalId: string,
): PolicyStatement[] {
  const key = resourcesOf(template)[keyLogicalId];
  if (key?.Type !== 'AWS::KMS::Key')
    throw new TypeError(`${keyLogicalId} is not an AWS::KMS::Key in the template`);
  const document = key.Properties?.KeyPolicy;
  if (!isPlainObject(document) || document.Statement === undefined)
    throw new TypeError(`${keyLogicalId} has no KeyPolicy.Statement`);
  return [...statementsOf(document as unknown as PolicyDocument)];
}
