/**
 * Which `sub` a repository's Actions jobs present, for `egg ci init`: the repository's and
 * its owner's ids and canonical names (`GET /repos/{owner}/{repo}`), and whether it uses
 * GitHub's immutable subjects, from its OIDC subject settings
 * (`GET /repos/{owner}/{repo}/actions/oidc/customization/sub`, "REST API endpoints for GitHub
 * Actions OIDC", GitHub Docs): `sub_claim_prefix` when GitHub gives it (what it builds the
 * `sub` from), else `use_immutable_subject` (which falls back to the organization's setting).
 * The opt-in is the same endpoint's PUT with `use_immutable_subject: true`.
 *
 * Where GitHub does not say (an older API, a token that may not read the settings), the form
 * is inferred and the inference is said: GitHub Enterprise Server has no immutable subjects;
 * on GitHub.com repositories created on or after 2026-07-15 use them by default ("OpenID
 * Connect reference", "Immutable subject claims"). The creation date cannot tell a later
 * rename, transfer or opt-in, so for an older repository the grant it suggests trusts both
 * forms. `--immutable-subject` / `--name-only-subject` replace all of this.
 */
import { EggError } from '../errors.js';
import {
  IMMUTABLE_SUBJECTS_SINCE,
  parseSubject,
  repositoryLabel,
  type SubjectForm,
  type SubjectRepository,
  subjectPrefix,
} from '../subjects.js';
import { type GitHubClient, githubError, statusOf } from './variables.js';

/** The repository as GitHub describes it: canonical names (as the `sub` spells them) and ids. */
export interface RepositoryFacts extends SubjectRepository {
  ownerId: string;
  repoId: string;
  defaultBranch: string;
  /** `created_at`, when GitHub gives it. */
  createdAt?: string;
}

/** What the repository's jobs present, and how we know. */
export interface SubjectSetting {
  form: SubjectForm;
  /** Said after the form, e.g. "the repository’s OIDC settings say so". */
  source: string;
}

/** Read the repository; also proves the token can see it. */
export async function readRepository(client: GitHubClient): Promise<RepositoryFacts> {
  const { owner, repo } = client.repository;
  try {
    const { data } = await client.octokit.rest.repos.get({ owner, repo });
    return {
      // A renamed repository answers under its new names (GitHub redirects), which the sub uses.
      owner: data.owner.login,
      repo: data.name,
      ownerId: String(data.owner.id),
      repoId: String(data.id),
      defaultBranch: data.default_branch,
      ...(typeof data.created_at === 'string' ? { createdAt: data.created_at } : {}),
    };
  } catch (error) {
    throw githubError(error, client, 'read');
  }
}

/** The repository's OIDC subject settings, as `GET …/actions/oidc/customization/sub` answers. */
export interface SubjectSettings {
  use_default?: boolean;
  include_claim_keys?: string[];
  use_immutable_subject?: boolean;
  sub_claim_prefix?: string;
}

/** The settings, or why they could not be read (a token that may see the repository but not them). */
export async function readSubjectSettings(
  client: GitHubClient,
): Promise<{ settings: SubjectSettings } | { unread: string }> {
  const { owner, repo } = client.repository;
  if (client.tokenVariable === undefined) return { unread: 'no GitHub token to read its OIDC settings with' };
  try {
    const { data } = await client.octokit.rest.actions.getCustomOidcSubClaimForRepo({ owner, repo });
    return { settings: data };
  } catch (error) {
    const status = statusOf(error);
    if (status !== 403 && status !== 404) throw githubError(error, client, 'read');
    return { unread: `GitHub refused to show its OIDC settings (${status})` };
  }
}

/**
 * The form of the repository's `sub`: from its OIDC settings, or inferred (and said so) when
 * they say nothing about it or could not be read. Refuses a custom subject template, which
 * presents neither default form.
 */
export function subjectSetting(
  read: { settings: SubjectSettings } | { unread: string },
  repository: RepositoryFacts,
  enterpriseServer: boolean,
): SubjectSetting {
  const settings = 'settings' in read ? read.settings : undefined;
  const slug = `${repository.owner}/${repository.repo}`;
  if (settings?.use_default === false) {
    const keys = settings.include_claim_keys ?? [];
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `${slug} uses a custom OIDC subject template (include_claim_keys: ${keys.join(', ') || 'none'}), ` +
        'so its jobs present neither of GitHub’s default subjects, the only ones Egg Carton grants accept',
      {
        hint:
          `reset it with \`gh api -X PUT repos/${slug}/actions/oidc/customization/sub -F use_default=true\` (docs/deploy.md, "Immutable subjects"), ` +
          'or write the role’s trust policy by hand and pass --immutable-subject or --name-only-subject',
      },
    );
  }
  const prefix = settings?.sub_claim_prefix;
  if (typeof prefix === 'string' && prefix !== '') return fromPrefix(prefix, repository);
  if (typeof settings?.use_immutable_subject === 'boolean')
    return {
      form: settings.use_immutable_subject ? 'immutable' : 'name-only',
      source: 'the repository’s OIDC settings say so',
    };
  return infer(repository, enterpriseServer, 'unread' in read ? read.unread : 'GitHub did not say');
}

/** The form GitHub's own prefix names, once its names and ids are checked against the repository's. */
function fromPrefix(prefix: string, repository: RepositoryFacts): SubjectSetting {
  const parsed = parseSubject(`${prefix}:`);
  const agrees =
    parsed !== undefined &&
    parsed.owner.toLowerCase() === repository.owner.toLowerCase() &&
    parsed.repo.toLowerCase() === repository.repo.toLowerCase() &&
    (parsed.form === 'name-only' ||
      (parsed.ownerId === repository.ownerId && parsed.repoId === repository.repoId));
  if (parsed === undefined || !agrees)
    throw new EggError(
      'ERR_STORE_UNAVAILABLE',
      `GitHub’s OIDC settings for ${repository.owner}/${repository.repo} give the subject prefix ${JSON.stringify(prefix)}, ` +
        `but the repository is ${repositoryLabel(repository)}`,
      {
        hint: 'pass --immutable-subject or --name-only-subject once you know which form its jobs present; `egg doctor` in a job prints the sub',
      },
    );
  return { form: parsed.form, source: 'the repository’s OIDC settings say so' };
}

function infer(repository: RepositoryFacts, enterpriseServer: boolean, why: string): SubjectSetting {
  if (enterpriseServer)
    return {
      form: 'name-only',
      source: 'GitHub Enterprise Server has no immutable subjects',
    };
  const override = 'pass --immutable-subject or --name-only-subject if that is wrong';
  const created = repository.createdAt;
  const since = IMMUTABLE_SUBJECTS_SINCE.slice(0, 10);
  if (created !== undefined && created >= IMMUTABLE_SUBJECTS_SINCE)
    return {
      form: 'immutable',
      source: `assumed: created ${created.slice(0, 10)}, on or after ${since}, and ${why}; ${override}`,
    };
  const when =
    created === undefined ? 'its creation date unknown' : `created ${created.slice(0, 10)}, before ${since}`;
  return {
    form: 'name-only',
    source: `assumed: ${when}, and ${why}; it is immutable if it was renamed or transferred since, or opted in; ${override}`,
  };
}

/** Whether `baseUrl` is GitHub Enterprise Server's API (not github.com's, nor GHE.com's `api.<subdomain>.ghe.com`). */
export function isEnterpriseServer(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname.toLowerCase();
  return host !== 'api.github.com' && !host.endsWith('.ghe.com');
}

/** A grants-file entry (docs/deploy.md, "Grants") that trusts this job. */
export interface GrantEntry {
  namespace: string;
  subjects: string[];
  allowMutableSubject?: true;
}

/**
 * The grant that matches the job's `sub`: the immutable form only, or for a repository on the
 * name-only form both, so the grant keeps working when it opts in (then drop the name-only
 * pattern and `allowMutableSubject`). GitHub Enterprise Server has only the name-only form.
 */
export function grantFor(
  namespace: string,
  repository: RepositoryFacts,
  qualifier: string,
  setting: SubjectSetting,
  enterpriseServer: boolean,
): GrantEntry {
  const immutable = `${subjectPrefix(repository, 'immutable')}:${qualifier}`;
  if (setting.form === 'immutable') return { namespace, subjects: [immutable] };
  const nameOnly = `${subjectPrefix(repository, 'name-only')}:${qualifier}`;
  return {
    namespace,
    subjects: enterpriseServer ? [nameOnly] : [nameOnly, immutable],
    allowMutableSubject: true,
  };
}
