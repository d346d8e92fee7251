/**
 * GitHub Actions OIDC `sub` claims in their two default forms, and what it means when a job's
 * `sub` and a trust policy's pattern differ in form, in ids or in names. Pure: `egg doctor`,
 * the Action's STS-refusal message and `egg ci init` share these words.
 *
 * - name-only: `repo:octocat/my-repo:ref:refs/heads/main`;
 * - immutable: `repo:octocat@123456/my-repo@456789:ref:refs/heads/main`, the owner's and the
 *   repository's numeric ids appended with `@`. GitHub's default for repositories created,
 *   renamed or transferred on or after 2026-07-15, and for older ones whose admins opt in
 *   ("OpenID Connect reference", "Immutable subject claims", GitHub Docs). Ids never change and
 *   are never reused, so a name someone registers again after a deletion or rename presents
 *   other ids. Not on GitHub Enterprise Server.
 *
 * Names are GitHub's (`[A-Za-z0-9_.-]`), so they never hold `@`, `/`, `:` or IAM's `*` and `?`.
 */

export type SubjectForm = 'name-only' | 'immutable';

/** The date GitHub made the immutable form the default for new, renamed and transferred repositories. */
export const IMMUTABLE_SUBJECTS_SINCE = '2026-07-15T00:00:00Z';

/** A repository as a `sub` names it; ids are decimal strings, absent when not known. */
export interface SubjectRepository {
  owner: string;
  ownerId?: string | undefined;
  repo: string;
  repoId?: string | undefined;
}

/** A parsed `sub` (or a pattern whose owner and repository are literal). */
export interface GitHubSubject extends SubjectRepository {
  form: SubjectForm;
  /** What follows `repo:<owner>/<repo>:`, e.g. `ref:refs/heads/main` (a pattern's may hold wildcards). */
  qualifier: string;
}

const SUBJECT = /^repo:([A-Za-z0-9_.-]+)(?:@([0-9]+))?\/([A-Za-z0-9_.-]+)(?:@([0-9]+))?:(.*)$/s;
const DECIMAL = /^[0-9]+$/;

/**
 * A `sub` (or a pattern with a literal owner and repository) in either form; undefined for
 * anything else (a custom template, a wildcard in a name or an id, only one of the two ids).
 * @example
 * parseSubject('repo:acme@1001/web@2002:environment:prod')
 * // { form: 'immutable', owner: 'acme', ownerId: '1001', repo: 'web', repoId: '2002', qualifier: 'environment:prod' }
 */
export function parseSubject(text: string): GitHubSubject | undefined {
  const match = SUBJECT.exec(text);
  if (match === null) return undefined;
  const [, owner, ownerId, repo, repoId, qualifier] = match as unknown as [
    string,
    string,
    string | undefined,
    string,
    string | undefined,
    string,
  ];
  if ((ownerId === undefined) !== (repoId === undefined)) return undefined;
  return ownerId === undefined
    ? { form: 'name-only', owner, repo, qualifier }
    : { form: 'immutable', owner, ownerId, repo, repoId, qualifier };
}

/** `repo:acme/web` or `repo:acme@1001/web@2002`: what GitHub calls the `sub_claim_prefix`. */
export function subjectPrefix(repository: SubjectRepository, form: SubjectForm): string {
  if (form === 'name-only') return `repo:${repository.owner}/${repository.repo}`;
  if (repository.ownerId === undefined || repository.repoId === undefined)
    throw new TypeError(`the immutable form of ${repository.owner}/${repository.repo} needs both ids`);
  return `repo:${repository.owner}@${repository.ownerId}/${repository.repo}@${repository.repoId}`;
}

/** The `sub` of `repository` with `qualifier`, in `form`. */
export function formatSubject(repository: SubjectRepository, qualifier: string, form: SubjectForm): string {
  return `${subjectPrefix(repository, form)}:${qualifier}`;
}

/**
 * The job's `sub` from its token's claims, with the ids filled in from `repository_owner_id`
 * and `repository_id` when the `sub` is name-only (GitHub puts both claims in every token, in
 * either form) and `repository` names the same repository.
 */
export function tokenSubject(claims: Record<string, unknown>): GitHubSubject | undefined {
  const sub = typeof claims.sub === 'string' ? parseSubject(claims.sub) : undefined;
  if (sub === undefined || sub.form === 'immutable') return sub;
  const ownerId = decimal(claims.repository_owner_id);
  const repoId = decimal(claims.repository_id);
  if (claims.repository !== `${sub.owner}/${sub.repo}` || ownerId === undefined || repoId === undefined)
    return sub;
  return { ...sub, ownerId, repoId };
}

function decimal(value: unknown): string | undefined {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  return typeof text === 'string' && DECIMAL.test(text) ? text : undefined;
}

/** `acme@1001/web@2002`, or `acme/web` without ids. */
export function repositoryLabel(repository: SubjectRepository): string {
  return repository.ownerId === undefined || repository.repoId === undefined
    ? `${repository.owner}/${repository.repo}`
    : `${repository.owner}@${repository.ownerId}/${repository.repo}@${repository.repoId}`;
}

/**
 * What the job's `sub` form means for a trust policy written in the other form: one
 * sentence, the same in `egg doctor` and in the Action's error. `ids` are the repository's
 * (from the token, or from the policy when the token has none).
 */
export function formSentence(job: GitHubSubject, ids: SubjectRepository = job): string {
  const names = { owner: job.owner, repo: job.repo };
  if (job.form === 'immutable')
    return (
      `this job’s sub is in GitHub’s immutable form, with the owner’s and the repository’s ids (${repositoryLabel(job)}), ` +
      `so a condition in the name-only form ("${subjectPrefix(names, 'name-only')}:…") does not match it`
    );
  const immutable =
    ids.ownerId === undefined || ids.repoId === undefined
      ? `repo:${job.owner}@<owner id>/${job.repo}@<repository id>`
      : subjectPrefix({ ...names, ownerId: ids.ownerId, repoId: ids.repoId }, 'immutable');
  return (
    'this job’s sub is in the name-only form (its repository does not use GitHub’s immutable subjects), ' +
    `so a condition in the immutable form ("${immutable}:…") does not match it`
  );
}

/**
 * How a job's `sub` and a policy's pattern differ when the pattern names the same repository
 * another way:
 * - `form`: only in form;
 * - `ids`: same names, other ids: the name now belongs to another owner or repository (a
 *   deletion or a rename, and the name registered again), or the policy's ids are wrong;
 * - `renamed`: same ids, other names;
 * - `transferred`: the repository's id, another owner.
 */
export type SubjectMismatchKind = 'form' | 'ids' | 'renamed' | 'transferred';

export interface SubjectMismatch {
  kind: SubjectMismatchKind;
  /** One sentence saying so (no capital, no full stop), naming both repositories. */
  sentence: string;
  /** The policy's pattern rewritten to match this job (its wildcards kept). */
  condition: string;
  /** The job's repository, with its ids when known. */
  job: SubjectRepository;
  form: SubjectForm;
}

/** Security findings first: a recycled name must never be reported as a mere difference of form. */
const PRIORITY: SubjectMismatchKind[] = ['ids', 'transferred', 'form', 'renamed'];

/**
 * Why the job's `sub` does not match `patterns` when one of them names the same repository in
 * another form, with other ids, or with other names; undefined when none does (another
 * branch, another repository altogether). `matches` is the condition operator's comparison
 * (IAM's StringLike, or equality), so a pattern's wildcards keep their meaning.
 */
export function explainSubjectMismatch(
  job: GitHubSubject,
  patterns: readonly string[],
  matches: (pattern: string, value: string) => boolean,
): SubjectMismatch | undefined {
  const found: SubjectMismatch[] = [];
  for (const text of patterns) {
    const pattern = parseSubject(text);
    if (pattern === undefined) continue;
    const finding = compare(job, text, pattern, matches);
    if (finding !== undefined) found.push(finding);
  }
  found.sort((a, b) => PRIORITY.indexOf(a.kind) - PRIORITY.indexOf(b.kind));
  return found[0];
}

function compare(
  job: GitHubSubject,
  text: string,
  pattern: GitHubSubject,
  matches: (pattern: string, value: string) => boolean,
): SubjectMismatch | undefined {
  const sameNames = pattern.owner === job.owner && pattern.repo === job.repo;
  /** The job's sub if its repository were `repository`, in the pattern's form. */
  const as = (repository: SubjectRepository) => formatSubject(repository, job.qualifier, pattern.form);
  /** The pattern with the job's repository in `form` (the pattern's qualifier and wildcards kept). */
  const rewritten = (repository: SubjectRepository, form: SubjectForm) =>
    formatSubject(repository, pattern.qualifier, form);
  const result = (kind: SubjectMismatchKind, sentence: string, condition: string): SubjectMismatch => ({
    kind,
    sentence,
    condition,
    job: jobRepository(job),
    form: job.form,
  });
  const ids = (sentence: string) =>
    `${sentence} (this job’s repository is ${repositoryLabel(job)}, the policy’s ${repositoryLabel(pattern)})`;

  if (pattern.form !== job.form) {
    if (!sameNames) return undefined;
    if (job.form === 'immutable')
      return matches(text, formatSubject(job, job.qualifier, 'name-only'))
        ? result('form', `they differ only in form: ${formSentence(job)}`, rewritten(job, 'immutable'))
        : undefined;
    // A name-only job against a pattern with ids: the token's id claims say whose they are.
    if (!matches(text, as(pattern))) return undefined;
    const known = job.ownerId !== undefined && job.repoId !== undefined;
    if (known && (job.ownerId !== pattern.ownerId || job.repoId !== pattern.repoId))
      return result(
        'ids',
        ids('the ids differ: the owner or repository was recreated or renamed'),
        rewritten(job, 'name-only'),
      );
    return result(
      'form',
      `they differ only in form: ${formSentence(job, pattern)}`,
      rewritten(job, 'name-only'),
    );
  }
  if (pattern.form === 'name-only' || !matches(text, as(pattern))) return undefined;
  const ownerIdSame = pattern.ownerId === job.ownerId;
  const repoIdSame = pattern.repoId === job.repoId;
  const condition = rewritten(job, 'immutable');
  if (sameNames)
    return ownerIdSame && repoIdSame
      ? undefined
      : result('ids', ids('the ids differ: the owner or repository was recreated or renamed'), condition);
  if (ownerIdSame && repoIdSame)
    return result(
      'renamed',
      ids('the names differ but the ids are the same: the owner or repository was renamed'),
      condition,
    );
  if (repoIdSame)
    return result(
      'transferred',
      ids('the repository’s id is the same but its owner’s is not: the repository was transferred'),
      condition,
    );
  return undefined;
}

function jobRepository(job: GitHubSubject): SubjectRepository {
  return { owner: job.owner, ownerId: job.ownerId, repo: job.repo, repoId: job.repoId };
}
