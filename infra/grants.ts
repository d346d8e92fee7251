/**
 * The grants file (`infra/grants.json`): who may read which namespace. Each grant becomes one
 * IAM role that GitHub Actions jobs assume with their OIDC token. Parsing is pure and strict
 * (unknown fields are refused, so a typo like `mintToken` cannot silently drop a setting),
 * and refuses over-broad `sub` patterns before anything is synthesized.
 *
 * The `sub` rule (docs/deploy.md, "Grants"): a pattern is
 *   `repo:<owner>@<owner id>/<repo>@<repository id>:environment:<name>`
 *   `repo:<owner>@<owner id>/<repo>@<repository id>:ref:refs/heads/<branch>`
 *   `repo:<owner>@<owner id>/<repo>@<repository id>:ref:refs/tags/<tag>`
 * (GitHub's immutable subject, the default for repositories created or renamed since
 * 2026-07-15: "OpenID Connect reference", "Immutable subject claims", GitHub Docs), or the
 * same without the ids (the name-only form) when the grant says `allowMutableSubject: true`:
 * a name-only subject is presented by whoever holds the name, so a deleted or renamed
 * owner's or repository's name, registered again by someone else, matches it. Owner, repo
 * and the qualifier kind are literal (no `*` or `?`, which IAM's StringLike treats as
 * wildcards; `@` is literal), ids are decimal digits, and `<name>`, `<branch>` or `<tag>`
 * starts with at least one literal character (`ref:refs/tags/v*` is fine, `environment:*`
 * is not). `pull_request` and customised subject templates are refused: anyone who can
 * open a branch in the repository can run them.
 */
import { EggError } from '../src/errors.js';
import { isNamespace } from '../src/names.js';

/**
 * One grant: a namespace, the job subjects allowed to read it, and what else they may do.
 * Without `manageSecrets` the role is read-only (its jobs must run with `rotation: deferred`).
 */
export interface Grant {
  /** Names the role's construct (and its output); defaults to the namespace. Unique in the file. */
  id: string;
  namespace: string;
  /** IAM `StringLike` patterns for the token's `sub` claim, in either form (the rule above). */
  subjects: string[];
  /**
   * Name-only (`repo:<owner>/<repo>:…`) patterns are allowed: for a repository that does not
   * use immutable subjects yet. Off by default.
   */
  allowMutableSubject: boolean;
  /** `kms:Sign` on the token signing key, and the token items (`TK#`, `RV#`) in `tokens#<namespace>`. */
  mintTokens: boolean;
  /** May write secrets: `egg secrets set` / `rm` and inline rotation. Off by default (read-only). */
  manageSecrets: boolean;
  /** The role's maximum STS session, seconds (3600–43200, IAM's `MaxSessionDuration` range). Default 3600. */
  maxSessionSeconds: number;
  /**
   * People who may also assume the role from a laptop with `egg login`: their `sub` in the
   * stack's Cognito user pool (infra/login-pool.ts), matched exactly. Absent when none.
   */
  loginSubjects?: string[];
}

const FIELDS = new Set([
  'id',
  'namespace',
  'subjects',
  'allowMutableSubject',
  'mintTokens',
  'manageSecrets',
  'maxSessionSeconds',
  'loginSubjects',
]);
/** A Cognito user pool `sub`: a UUID, as `egg login` reports it when STS refuses. */
const COGNITO_SUB = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OWNER_REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
/** A literal owner or repository name: GitHub's characters, so never an IAM wildcard. */
const NAME = /^[A-Za-z0-9_.-]+$/;
/** An owner or repository id as GitHub assigns it: a positive decimal integer. */
const GITHUB_ID = /^[1-9][0-9]{0,19}$/;
const QUALIFIERS = ['environment:', 'ref:refs/heads/', 'ref:refs/tags/'] as const;
/** A qualifier value: a literal first character, then IAM wildcards allowed; no control characters. */
const VALUE = /^[^*?\s][^\s]*$/;
const ID = /^[A-Za-z0-9/._-]{1,64}$/;
/**
 * A role's `MaxSessionDuration` is 3600 to 43200 seconds ("CreateRole", IAM API Reference);
 * a session may be shorter (`DurationSeconds` from 900), but the role's maximum may not.
 */
export const MIN_ROLE_SESSION_SECONDS = 3600;
export const MAX_ROLE_SESSION_SECONDS = 43_200;

/**
 * Why `pattern` is too broad or malformed, or undefined when it is acceptable.
 * @example
 * subjectProblem('repo:acme/*') // 'the owner and repository must be literal…'
 */
export function subjectProblem(pattern: string): string | undefined {
  if (!pattern.startsWith('repo:')) return 'it must start with "repo:<owner>/<repo>:"';
  const rest = pattern.slice('repo:'.length);
  const colon = rest.indexOf(':');
  const ownerRepo = colon === -1 ? rest : rest.slice(0, colon);
  const problem = ownerRepo.includes('@') ? immutableProblem(ownerRepo) : nameOnlyProblem(ownerRepo);
  if (problem !== undefined) return problem;
  if (colon === -1)
    return 'it needs a qualifier after the repository: ":environment:<name>", ":ref:refs/heads/<branch>" or ":ref:refs/tags/<tag>"';
  const qualifier = rest.slice(colon + 1);
  const kind = QUALIFIERS.find((q) => qualifier.startsWith(q));
  if (kind === undefined)
    return 'the qualifier must be "environment:<name>", "ref:refs/heads/<branch>" or "ref:refs/tags/<tag>" (pull_request and custom subjects are not allowed)';
  const value = qualifier.slice(kind.length);
  if (!VALUE.test(value))
    return `the ${kind.replace(/:$/, '')} part must start with a literal character (no "*" or "?" first, no spaces)`;
  return undefined;
}

/** Whether `pattern` is in the name-only form (`repo:<owner>/<repo>:…`, no ids). */
export function isNameOnlySubject(pattern: string): boolean {
  const rest = pattern.slice('repo:'.length);
  const colon = rest.indexOf(':');
  return !(colon === -1 ? rest : rest.slice(0, colon)).includes('@');
}

function nameOnlyProblem(ownerRepo: string): string | undefined {
  return OWNER_REPO.test(ownerRepo)
    ? undefined
    : 'the owner and repository must be literal (no "*" or "?"), as in "repo:acme/web:…"';
}

/** `owner@id/repo@id`: literal names, both ids, each a decimal integer (no wildcard can hide in one). */
function immutableProblem(ownerRepo: string): string | undefined {
  const parts = ownerRepo.split('/');
  const halves = parts.map((part) => {
    const at = part.indexOf('@');
    return at === -1 ? { name: part, id: undefined } : { name: part.slice(0, at), id: part.slice(at + 1) };
  });
  if (halves.length !== 2 || !halves.every((half) => NAME.test(half.name)))
    return 'the owner and repository must be literal (no "*" or "?"), as in "repo:acme@123/web@456:…": a wildcard there admits whoever registers a matching name';
  if (halves.some((half) => half.id === undefined))
    return 'the immutable form names both ids, "repo:<owner>@<owner id>/<repo>@<repository id>:…"; GitHub never presents one without the other';
  if (!halves.every((half) => GITHUB_ID.test(half.id ?? '')))
    return 'the owner and repository ids must be decimal digits as GitHub assigns them, without "*" or "?" (as in "repo:acme@123/web@456:…")';
  return undefined;
}

/** The refusal of a name-only pattern in a grant that does not allow it: why, and how to get the ids. */
function nameOnlyRefusal(pattern: string): string {
  const rest = pattern.slice('repo:'.length);
  const colon = rest.indexOf(':');
  const [owner, repo] = rest.slice(0, colon).split('/') as [string, string];
  const qualifier = rest.slice(colon);
  return (
    `the subject pattern "${pattern}" names the repository by name only, which whoever next holds the name ` +
    `"${owner}" or "${owner}/${repo}" (after a rename or deletion) also presents: write it with the ids, ` +
    `"repo:${owner}@<owner id>/${repo}@<repository id>${qualifier}" ` +
    `(\`gh api repos/${owner}/${repo} --jq '.owner.id, .id'\` prints them, or \`egg ci init\` prints the whole pattern), ` +
    'or set "allowMutableSubject": true for a repository that does not use immutable subjects yet'
  );
}

/** Parse and validate the grants file's JSON text; `source` names the file in errors. */
export function parseGrants(text: string, source = 'grants.json'): Grant[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw invalid(source, 'it is not valid JSON', error);
  }
  if (!Array.isArray(raw)) throw invalid(source, 'it must be a JSON array of grants');
  const grants = raw.map((entry, index) => parseGrant(entry, `${source}[${index}]`));
  const seen = new Set<string>();
  for (const grant of grants) {
    if (seen.has(grant.id))
      throw invalid(source, `two grants have the id "${grant.id}"; give one of them a distinct "id"`);
    seen.add(grant.id);
  }
  return grants;
}

function parseGrant(entry: unknown, where: string): Grant {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw invalid(where, 'a grant must be an object');
  const record = entry as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (!FIELDS.has(key)) throw invalid(where, `unknown field "${key}"; allowed: ${[...FIELDS].join(', ')}`);

  const { namespace } = record;
  if (typeof namespace !== 'string' || !isNamespace(namespace))
    throw invalid(
      where,
      `"namespace" must be 1 to 3 segments of [a-z0-9._-] separated by "/" (got ${JSON.stringify(namespace)})`,
    );

  const { subjects } = record;
  if (!Array.isArray(subjects) || subjects.length === 0 || !subjects.every((s) => typeof s === 'string'))
    throw invalid(where, '"subjects" must be a non-empty list of GitHub OIDC "sub" patterns');
  const allowMutableSubject = flag(record, 'allowMutableSubject', where);
  for (const subject of subjects as string[]) {
    const problem = subjectProblem(subject);
    if (problem !== undefined)
      throw invalid(where, `the subject pattern "${subject}" is too broad or malformed: ${problem}`);
    if (!allowMutableSubject && isNameOnlySubject(subject)) throw invalid(where, nameOnlyRefusal(subject));
  }

  const id = record.id ?? namespace;
  if (typeof id !== 'string' || !ID.test(id))
    throw invalid(where, '"id" must be 1 to 64 characters of letters, digits, "/", ".", "_" or "-"');

  const maxSessionSeconds = record.maxSessionSeconds ?? MIN_ROLE_SESSION_SECONDS;
  if (
    typeof maxSessionSeconds !== 'number' ||
    !Number.isInteger(maxSessionSeconds) ||
    maxSessionSeconds < MIN_ROLE_SESSION_SECONDS ||
    maxSessionSeconds > MAX_ROLE_SESSION_SECONDS
  )
    throw invalid(
      where,
      `"maxSessionSeconds" must be a whole number from ${MIN_ROLE_SESSION_SECONDS} to ${MAX_ROLE_SESSION_SECONDS}: IAM refuses a role whose maximum session is under one hour or over twelve (a job can still ask for a shorter session, down to 900 s, with role-session-duration)`,
    );

  const { loginSubjects } = record;
  if (
    loginSubjects !== undefined &&
    (!Array.isArray(loginSubjects) ||
      loginSubjects.length === 0 ||
      !loginSubjects.every((s) => typeof s === 'string' && COGNITO_SUB.test(s)))
  )
    throw invalid(
      where,
      '"loginSubjects" must be a non-empty list of Cognito user "sub" values (lowercase UUIDs, no wildcards)',
    );

  return {
    id,
    namespace,
    subjects: [...new Set(subjects as string[])],
    allowMutableSubject,
    mintTokens: flag(record, 'mintTokens', where),
    manageSecrets: flag(record, 'manageSecrets', where),
    maxSessionSeconds,
    ...(loginSubjects === undefined ? {} : { loginSubjects: [...new Set(loginSubjects as string[])] }),
  };
}

function flag(record: Record<string, unknown>, key: string, where: string): boolean {
  const value = record[key] ?? false;
  if (typeof value !== 'boolean') throw invalid(where, `"${key}" must be true or false`);
  return value;
}

function invalid(where: string, why: string, cause?: unknown): EggError {
  return new EggError('ERR_INVALID_CONFIG', `invalid grant in ${where}: ${why}`, {
    cause,
    hint: 'see docs/deploy.md, "Grants"',
  });
}
