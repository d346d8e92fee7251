/**
 * Repository variables for Actions (`vars.*`) through GitHub's REST API with
 * `@octokit/rest`, create-or-update: GET each one, then POST it when absent (404) or PATCH
 * it when its value differs ("REST API endpoints for GitHub Actions variables"). Octokit is
 * imported when a client is built, so no other command pays for loading it.
 *
 * The token comes from GH_TOKEN or GITHUB_TOKEN (gh's order) and is never put in a message.
 * Errors name the variable that holds it, the repository, and the permission it lacks.
 */
import type { Octokit } from '@octokit/rest';
import { EggError } from '../errors.js';
import type { Repository } from './repository.js';

export const TOKEN_VARIABLES = ['GH_TOKEN', 'GITHUB_TOKEN'] as const;

export interface GitHubToken {
  token: string;
  /** Which variable held it, for messages. */
  variable: (typeof TOKEN_VARIABLES)[number];
}

/** The token from the environment, or an error naming the variables to set. */
export function tokenFromEnv(env: NodeJS.ProcessEnv): GitHubToken {
  const found = optionalToken(env);
  if (found !== undefined) return found;
  throw new EggError('ERR_USAGE', 'no GitHub token: set GH_TOKEN or GITHUB_TOKEN', {
    hint: 'use a token that may write the repository’s Actions variables, e.g. `GH_TOKEN=$(gh auth token) egg ci init`',
  });
}

/** The token in GH_TOKEN or GITHUB_TOKEN, if either is set (a dry run can do without). */
export function optionalToken(env: NodeJS.ProcessEnv): GitHubToken | undefined {
  for (const variable of TOKEN_VARIABLES) {
    const token = env[variable]?.trim();
    if (token) return { token, variable };
  }
  return undefined;
}

export interface GitHubClient {
  octokit: Octokit;
  repository: Repository;
  /** Where the token came from; undefined for a client without one (a dry run reading a public repository). */
  tokenVariable: string | undefined;
}

/** An Octokit client for `repository`, with `token` or without one; quiet (its request log would go to the console). */
export async function createGitHubClient(
  repository: Repository,
  token: GitHubToken | undefined,
  options: { baseUrl: string; userAgent: string },
): Promise<GitHubClient> {
  const { Octokit } = await import('@octokit/rest');
  const quiet = () => {};
  const octokit = new Octokit({
    ...(token === undefined ? {} : { auth: token.token }),
    baseUrl: options.baseUrl,
    userAgent: options.userAgent,
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
  return { octokit, repository, tokenVariable: token?.variable };
}

/** `set`: create or update, not known which (a dry run without a token cannot read variables). */
export type VariableAction = 'create' | 'update' | 'unchanged' | 'set';

export interface VariableChange {
  name: string;
  value: string;
  action: VariableAction;
  /** The value it has now, for `update`. */
  current?: string;
}

/** What setting each of `desired` would do: one GET per variable. */
export async function planVariables(
  client: GitHubClient,
  desired: readonly { name: string; value: string }[],
): Promise<VariableChange[]> {
  const { owner, repo } = client.repository;
  if (client.tokenVariable === undefined)
    return desired.map(({ name, value }) => ({ name, value, action: 'set' }));
  return Promise.all(
    desired.map(async ({ name, value }): Promise<VariableChange> => {
      try {
        const { data } = await client.octokit.rest.actions.getRepoVariable({ owner, repo, name });
        return data.value === value
          ? { name, value, action: 'unchanged' }
          : { name, value, action: 'update', current: data.value };
      } catch (error) {
        if (statusOf(error) === 404) return { name, value, action: 'create' };
        throw githubError(error, client, 'read', name);
      }
    }),
  );
}

/** Carry out the plan: POST new variables, PATCH changed ones, leave the rest. */
export async function applyVariables(
  client: GitHubClient,
  changes: readonly VariableChange[],
): Promise<void> {
  const { owner, repo } = client.repository;
  for (const change of changes) {
    if (change.action === 'set')
      throw new TypeError(`cannot apply ${change.name}: its current value was never read`);
    try {
      if (change.action === 'create') {
        await client.octokit.rest.actions.createRepoVariable({
          owner,
          repo,
          name: change.name,
          value: change.value,
        });
      } else if (change.action === 'update') {
        await client.octokit.rest.actions.updateRepoVariable({
          owner,
          repo,
          name: change.name,
          value: change.value,
        });
      }
    } catch (error) {
      throw githubError(error, client, 'write', change.name);
    }
  }
}

/** The HTTP status of an Octokit failure, if it has one. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

function header(error: unknown, name: string): string | undefined {
  const headers = (error as { response?: { headers?: Record<string, unknown> } } | null)?.response?.headers;
  const value = headers?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** An Octokit failure as an EggError that says what to do; never quoting the request. */
export function githubError(
  error: unknown,
  client: GitHubClient,
  mode: 'read' | 'write',
  variable?: string,
): EggError {
  const slug = `${client.repository.owner}/${client.repository.repo}`;
  const status = statusOf(error);
  const what = variable === undefined ? `the repository ${slug}` : `the variable ${variable} of ${slug}`;
  if (client.tokenVariable === undefined && (status === 401 || status === 403 || status === 404)) {
    return new EggError(
      'ERR_ACCESS_DENIED',
      `GitHub answered ${status} for ${what} without a token: it is private, or does not exist`,
      {
        cause: error,
        hint: 'set GH_TOKEN to a token that may read it (e.g. `GH_TOKEN=$(gh auth token)`), or check --repo',
      },
    );
  }
  const permission =
    `the token in ${client.tokenVariable} needs the "Variables" repository permission (read and write) ` +
    `for a fine-grained token or GitHub App, or the "repo" scope for a classic token, and admin access to ${slug}`;
  if (status === 401) {
    return new EggError(
      'ERR_ACCESS_DENIED',
      `GitHub refused the token in ${client.tokenVariable} (401 Bad credentials)`,
      {
        cause: error,
        hint: 'it is invalid, expired or revoked; create a new one (or run `gh auth refresh`)',
      },
    );
  }
  if ((status === 403 || status === 429) && header(error, 'x-ratelimit-remaining') === '0') {
    const reset = Number(header(error, 'x-ratelimit-reset'));
    const when = Number.isFinite(reset) ? ` after ${new Date(reset * 1000).toISOString()}` : ' later';
    return new EggError('ERR_STORE_UNAVAILABLE', `GitHub's API rate limit for this token is used up`, {
      cause: error,
      hint: `try again${when}`,
    });
  }
  if (status === 403) {
    return new EggError(
      'ERR_ACCESS_DENIED',
      `GitHub refused to let the token in ${client.tokenVariable} ${mode} ${what} (403)`,
      { cause: error, hint: permission },
    );
  }
  if (status === 404) {
    return new EggError(
      'ERR_ACCESS_DENIED',
      `GitHub answered 404 for ${what}: the repository does not exist, or the token in ${client.tokenVariable} may not ${mode} its Actions variables`,
      { cause: error, hint: `check the repository (--repo OWNER/NAME); ${permission}` },
    );
  }
  if (status === 422) {
    return new EggError('ERR_USAGE', `GitHub refused ${what} as invalid (422)`, { cause: error });
  }
  return new EggError(
    'ERR_STORE_UNAVAILABLE',
    status === undefined || status >= 500
      ? `could not reach GitHub's API to ${mode} ${what}${status === undefined ? '' : ` (HTTP ${status})`}`
      : `GitHub answered HTTP ${status} to ${mode} ${what}`,
    {
      cause: error,
      hint: 'check the network (and GITHUB_API_URL for GitHub Enterprise Server), then try again',
    },
  );
}
