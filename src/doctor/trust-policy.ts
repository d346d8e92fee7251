/**
 * Would this IAM role trust policy let a job with these OIDC claims call
 * `sts:AssumeRoleWithWebIdentity`, and if not, which part refuses it? A pure evaluator of
 * the subset of IAM's policy language that trust policies for GitHub use ("IAM JSON policy
 * elements: Condition operators" and "Creating a role for web identity or OIDC federation",
 * IAM User Guide):
 *
 * - a statement applies when its `Principal` (or `*`) names the token's OIDC provider and
 *   its `Action` (or `NotAction`) covers `sts:AssumeRoleWithWebIdentity`, `*` wildcards allowed;
 * - every condition operator must hold, every key under it must hold, and a key holds when
 *   any of its values matches (values OR, keys AND);
 * - `String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike}`, each with
 *   `…IfExists`, the `ForAnyValue:` / `ForAllValues:` qualifiers, and `Null`;
 * - a key missing from the request fails a positive operator and satisfies a negated one
 *   or an `…IfExists` one;
 * - allowed when an Allow statement matches and no Deny statement does.
 *
 * Keys of the token's provider (`token.actions.githubusercontent.com:sub`) take the claim of
 * that name; other keys (`aws:SourceIp`, …) cannot be known from a token and are reported as
 * unchecked rather than guessed.
 *
 * When a `sub` condition refuses a GitHub job whose repository it names another way (the
 * other of GitHub's two `sub` forms, other ids, other names: src/subjects.ts), the problem
 * says so, and `subject` carries the condition that would match.
 */
import { EggError } from '../errors.js';
import { explainSubjectMismatch, type SubjectMismatch, tokenSubject } from '../subjects.js';

export const WEB_IDENTITY_ACTION = 'sts:AssumeRoleWithWebIdentity';

/** The parts of a policy statement the evaluator reads. */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export interface TrustPolicy {
  statements: PolicyStatement[];
}

/** One key of one condition operator, compared with the token. */
export interface ConditionCheck {
  operator: string;
  key: string;
  expected: string[];
  /** The token's values for the key; undefined when the token has no such claim. */
  actual: string[] | undefined;
  /** `unchecked`: the key is not one a token carries (e.g. `aws:SourceIp`). */
  result: 'match' | 'mismatch' | 'unchecked';
}

export interface StatementVerdict {
  index: number;
  sid?: string;
  effect: 'Allow' | 'Deny';
  /** The principal names the token's provider (or `*`). */
  principalMatches: boolean;
  /** The action covers `sts:AssumeRoleWithWebIdentity`. */
  actionMatches: boolean;
  conditions: ConditionCheck[];
  /** The statement applies and every condition holds. */
  matches: boolean;
}

export interface TrustVerdict {
  allowed: boolean;
  /** The token's provider, as condition keys name it (`token.actions.githubusercontent.com`). */
  provider: string;
  statements: StatementVerdict[];
  /** What refuses the token, one sentence each; empty when allowed. */
  problems: string[];
  /** Conditions that could not be checked from the token alone. */
  notes: string[];
  /** A refused GitHub job whose repository a `sub` condition names another way, and how. */
  subject?: SubjectMismatch;
}

/**
 * Parse a trust policy document: JSON, or the URL-encoded JSON that IAM's GetRole returns
 * in `AssumeRolePolicyDocument`.
 * @example
 * parseTrustPolicy(role.AssumeRolePolicyDocument ?? '')
 */
export function parseTrustPolicy(text: string): TrustPolicy {
  let source = text.trim();
  if (/^%7b/i.test(source)) {
    try {
      source = decodeURIComponent(source);
    } catch {
      throw invalid('it is neither JSON nor URL-encoded JSON');
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    throw invalid('it is not valid JSON');
  }
  if (!isRecord(parsed)) throw invalid('it must be a JSON object');
  const raw = parsed.Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (list.length === 0) throw invalid('it has no Statement');
  const statements = list.map((statement, index): PolicyStatement => {
    if (!isRecord(statement)) throw invalid(`statement ${index} is not an object`);
    const effect = statement.Effect;
    if (effect !== 'Allow' && effect !== 'Deny')
      throw invalid(`statement ${index} has Effect ${JSON.stringify(effect)}; it must be "Allow" or "Deny"`);
    const result: PolicyStatement = { Effect: effect };
    if (typeof statement.Sid === 'string') result.Sid = statement.Sid;
    if (statement.Principal !== undefined) result.Principal = statement.Principal;
    if (statement.NotPrincipal !== undefined) result.NotPrincipal = statement.NotPrincipal;
    for (const field of ['Action', 'NotAction'] as const) {
      const value = statement[field];
      if (value === undefined) continue;
      if (typeof value !== 'string' && !(Array.isArray(value) && value.every((v) => typeof v === 'string')))
        throw invalid(`statement ${index}: ${field} must be a string or a list of strings`);
      result[field] = value as string | string[];
    }
    if (statement.Condition !== undefined) {
      const condition = statement.Condition;
      if (!isRecord(condition) || !Object.values(condition).every(isRecord))
        throw invalid(`statement ${index}: Condition must map operators to objects of keys`);
      result.Condition = condition as Record<string, Record<string, unknown>>;
    }
    return result;
  });
  return { statements };
}

/** The provider part of condition keys for an issuer: `https://host/path` → `host/path`. */
export function providerOf(issuer: string): string {
  return issuer.replace(/^https:\/\//i, '').replace(/\/+$/, '');
}

/**
 * Evaluate `policy` for a web-identity token with `claims`.
 * @example
 * const verdict = evaluateTrustPolicy(parseTrustPolicy(json), decodeClaims(token));
 * if (!verdict.allowed) console.log(verdict.problems.join('\n'));
 */
export function evaluateTrustPolicy(
  policy: TrustPolicy,
  claims: Record<string, unknown>,
  options: { provider?: string } = {},
): TrustVerdict {
  const provider =
    options.provider ??
    providerOf(typeof claims.iss === 'string' ? claims.iss : 'https://token.actions.githubusercontent.com');
  const statements = policy.statements.map((statement, index) =>
    evaluateStatement(statement, index, claims, provider),
  );
  const allows = statements.filter((s) => s.effect === 'Allow');
  const denies = statements.filter((s) => s.effect === 'Deny' && s.matches);
  const allowed = denies.length === 0 && allows.some((s) => s.matches);
  const problems: string[] = [];
  const notes: string[] = [];
  const subjects: SubjectMismatch[] = [];
  for (const deny of denies) problems.push(`${label(deny)} (Deny) matches this token, so it is refused`);
  if (!allowed) {
    const applicable = allows.filter((s) => s.principalMatches && s.actionMatches);
    if (allows.length === 0) problems.push('the policy has no Allow statement');
    else if (applicable.length === 0) {
      for (const s of allows) problems.push(...statementMisfit(s, policy.statements[s.index], provider));
    } else if (denies.length === 0) {
      for (const s of applicable) {
        for (const check of s.conditions.filter((c) => c.result === 'mismatch')) {
          const subject = subjectMismatch(check, claims, provider);
          if (subject !== undefined) subjects.push(subject);
          const why = subject === undefined ? '' : `; ${subject.sentence}`;
          problems.push(`${label(s)}: ${describeMismatch(check)}${why}`);
        }
      }
    }
  }
  for (const s of statements) {
    for (const check of s.conditions.filter((c) => c.result === 'unchecked')) {
      notes.push(
        `${label(s)}: ${check.operator} on "${check.key}" depends on the request, not the token; not checked`,
      );
    }
  }
  const verdict: TrustVerdict = { allowed, provider, statements, problems, notes };
  const subject = subjects.sort((a, b) => SUBJECT_PRIORITY[a.kind] - SUBJECT_PRIORITY[b.kind])[0];
  if (subject !== undefined) verdict.subject = subject;
  return verdict;
}

/** Security findings first: a recycled name is never reported as a mere difference of form. */
const SUBJECT_PRIORITY = { ids: 0, transferred: 1, form: 2, renamed: 3 } as const;

/** For a refused `<provider>:sub` comparison: whether its patterns name the job's repository another way. */
function subjectMismatch(
  check: ConditionCheck,
  claims: Record<string, unknown>,
  provider: string,
): SubjectMismatch | undefined {
  if (check.key.toLowerCase() !== `${provider.toLowerCase()}:sub`) return undefined;
  const base = /^(?:ForAnyValue:|ForAllValues:)?(.+?)(?:IfExists)?$/.exec(check.operator)?.[1] ?? '';
  const compare = base.startsWith('StringNot') ? undefined : comparator(base);
  const job = tokenSubject(claims);
  if (compare === undefined || job === undefined) return undefined;
  return explainSubjectMismatch(job, check.expected, compare);
}

/**
 * IAM's `StringLike`: `*` matches any run of characters (also none), `?` exactly one;
 * everything else literally and case-sensitively.
 */
export function iamStringLike(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${regex}$`, 's').test(value);
}

function evaluateStatement(
  statement: PolicyStatement,
  index: number,
  claims: Record<string, unknown>,
  provider: string,
): StatementVerdict {
  const principalMatches =
    statement.NotPrincipal === undefined && principalNames(statement.Principal, provider);
  // Action names are case-insensitive ("IAM JSON policy elements: Action").
  const covers = (actions: string | string[]) =>
    asList(actions).some((a) => iamStringLike(String(a).toLowerCase(), WEB_IDENTITY_ACTION.toLowerCase()));
  const actionMatches =
    statement.Action !== undefined
      ? covers(statement.Action)
      : statement.NotAction !== undefined && !covers(statement.NotAction);
  const conditions: ConditionCheck[] = [];
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, values] of Object.entries(keys)) {
      const expected = asList(values).map(String);
      const actual = claimValues(key, claims, provider);
      const result = checkCondition(operator, expected, actual);
      conditions.push({ operator, key, expected, actual: actual === 'unknown' ? undefined : actual, result });
    }
  }
  const verdict: StatementVerdict = {
    index,
    effect: statement.Effect,
    principalMatches,
    actionMatches,
    conditions,
    matches: principalMatches && actionMatches && conditions.every((c) => c.result !== 'mismatch'),
  };
  if (statement.Sid !== undefined) verdict.sid = statement.Sid;
  return verdict;
}

/** Whether `principal` is `*` or federates the token's provider (`arn:…:oidc-provider/<provider>`). */
function principalNames(principal: unknown, provider: string): boolean {
  if (principal === '*') return true;
  if (!isRecord(principal)) return false;
  if (principal.AWS === '*') return true;
  return asList(principal.Federated).some((entry) => {
    const name = String(entry);
    const target = name.includes(':oidc-provider/') ? name.slice(name.indexOf(':oidc-provider/') + 15) : name;
    return target.toLowerCase() === provider.toLowerCase();
  });
}

/** The token's values for a condition key, or `unknown` for keys a token cannot carry. */
function claimValues(
  key: string,
  claims: Record<string, unknown>,
  provider: string,
): string[] | undefined | 'unknown' {
  const prefix = `${provider.toLowerCase()}:`;
  if (!key.toLowerCase().startsWith(prefix)) {
    // Another provider's keys are simply absent from this request; service keys are unknowable.
    return /^[a-z0-9-]+:/i.test(key) && !key.includes('.') ? 'unknown' : undefined;
  }
  const claim = key.slice(prefix.length);
  const name = Object.keys(claims).find((c) => c.toLowerCase() === claim.toLowerCase());
  const value = name === undefined ? undefined : claims[name];
  if (value === undefined || value === null) return undefined;
  return (Array.isArray(value) ? value : [value]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
}

function checkCondition(
  operator: string,
  expected: string[],
  actual: string[] | undefined | 'unknown',
): ConditionCheck['result'] {
  if (actual === 'unknown') return 'unchecked';
  const parsed = /^(ForAnyValue:|ForAllValues:)?(.+?)(IfExists)?$/.exec(operator);
  const qualifier = parsed?.[1];
  const base = parsed?.[2] ?? operator;
  const ifExists = parsed?.[3] !== undefined;
  if (base === 'Null') {
    // "Null": {"key": "true"} holds when the key is absent; "false" when it is present.
    const wantAbsent = expected.some((e) => e.toLowerCase() === 'true');
    return (actual === undefined) === wantAbsent ? 'match' : 'mismatch';
  }
  const compare = comparator(base);
  if (compare === undefined) return 'unchecked';
  const negated = base.startsWith('StringNot');
  const one = (value: string) => {
    const hit = expected.some((pattern) => compare(pattern, value));
    return negated ? !hit : hit;
  };
  let ok: boolean;
  if (actual === undefined || actual.length === 0) {
    // A missing key: positive operators fail, negated ones and …IfExists hold, ForAllValues holds.
    ok = ifExists || negated || qualifier === 'ForAllValues:';
  } else if (qualifier === 'ForAllValues:') {
    ok = actual.every(one);
  } else {
    ok = negated && qualifier === undefined ? actual.every(one) : actual.some(one);
  }
  return ok ? 'match' : 'mismatch';
}

function comparator(base: string): ((pattern: string, value: string) => boolean) | undefined {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return (pattern, value) => pattern === value;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return (pattern, value) => pattern.toLowerCase() === value.toLowerCase();
    case 'StringLike':
    case 'StringNotLike':
      return iamStringLike;
    default:
      return undefined;
  }
}

function describeMismatch(check: ConditionCheck): string {
  const expected = check.expected.map((e) => JSON.stringify(e)).join(', ');
  const allows = check.expected.length === 1 ? expected : `one of ${expected}`;
  const claim = check.key.slice(check.key.lastIndexOf(':') + 1);
  if (check.actual === undefined) {
    return `${check.operator} on "${check.key}" needs the token's "${claim}" claim, which it does not have`;
  }
  const actual = check.actual.map((a) => JSON.stringify(a)).join(', ');
  const negated = /StringNot/.test(check.operator);
  let text = negated
    ? `"${check.key}" is ${actual}, which ${check.operator} excludes (${expected})`
    : `"${check.key}" is ${actual}, but ${check.operator} allows only ${allows}`;
  if (/^(ForA\w+:)?StringEquals/.test(check.operator) && check.expected.some((e) => /[*?]/.test(e))) {
    text += `; ${check.operator} compares "*" and "?" literally: use StringLike for wildcards`;
  }
  return text;
}

function statementMisfit(
  verdict: StatementVerdict,
  statement: PolicyStatement | undefined,
  provider: string,
) {
  const problems: string[] = [];
  if (!verdict.principalMatches) {
    const federated = asList(isRecord(statement?.Principal) ? statement.Principal.Federated : undefined);
    problems.push(
      statement?.NotPrincipal !== undefined
        ? `${label(verdict)} uses NotPrincipal, which a trust policy for OIDC should not`
        : federated.length === 0
          ? `${label(verdict)} trusts no OIDC provider (Principal has no "Federated"); it must name oidc-provider/${provider}`
          : `${label(verdict)} trusts ${federated.map((f) => JSON.stringify(String(f))).join(', ')}, but the token comes from ${provider}`,
    );
  }
  if (!verdict.actionMatches) {
    problems.push(
      `${label(verdict)} does not allow ${WEB_IDENTITY_ACTION} (Action: ${JSON.stringify(statement?.Action ?? statement?.NotAction ?? null)})`,
    );
  }
  return problems;
}

function label(verdict: StatementVerdict): string {
  return verdict.sid === undefined
    ? `statement ${verdict.index}`
    : `statement ${verdict.index} ("${verdict.sid}")`;
}

function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(reason: string): EggError {
  return new EggError('ERR_INVALID_CONFIG', `the trust policy cannot be read: ${reason}`);
}
