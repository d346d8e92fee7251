/**
 * Which GitHub repository, and which API serves it: from `owner/name`, or from a git
 * remote URL in any form git accepts for GitHub (https, ssh://, scp-like `git@host:o/r`,
 * git://), with or without `.git`. Credentials embedded in an https remote are dropped
 * here and never appear in a message.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EggError } from '../errors.js';

export interface Repository {
  owner: string;
  repo: string;
  /** The host of the remote (`github.com`, or a GitHub Enterprise Server host). */
  host: string;
}

/** GitHub's rules: owners are 1–39 letters, digits and inner hyphens; names `[A-Za-z0-9._-]`, not `.`/`..`. */
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$/;
const NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/;

/**
 * `owner/name` as given to `--repo`.
 * @example
 * parseRepository('acme/web') // { owner: 'acme', repo: 'web', host: 'github.com' }
 */
export function parseRepository(spec: string): Repository {
  const match = /^([^/\s]+)\/([^/\s]+?)(?:\.git)?$/.exec(spec.trim());
  if (match?.[1] === undefined || match[2] === undefined || !OWNER.test(match[1]) || !NAME.test(match[2])) {
    throw new EggError('ERR_USAGE', `"${spec}" is not a GitHub repository`, {
      hint: 'pass it as OWNER/NAME, e.g. --repo acme/web',
    });
  }
  return { owner: match[1], repo: match[2], host: 'github.com' };
}

/** The repository a git remote URL points at; undefined when it is not a GitHub-style URL. */
export function parseRemoteUrl(url: string): Repository | undefined {
  const text = url.trim();
  let host: string;
  let path: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(text);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return undefined;
    }
    if (!['https:', 'http:', 'ssh:', 'git:', 'git+ssh:', 'ssh+git:'].includes(parsed.protocol))
      return undefined;
    host = parsed.hostname;
    path = decodeURIComponent(parsed.pathname);
  } else if (scp?.[1] !== undefined && scp[2] !== undefined) {
    host = scp[1];
    path = scp[2];
  } else {
    return undefined;
  }
  const parts = path
    .replace(/^\/+|\/+$/g, '')
    .replace(/\.git$/, '')
    .split('/');
  if (parts.length !== 2) return undefined;
  const [owner, repo] = parts as [string, string];
  if (!OWNER.test(owner) || !NAME.test(repo)) return undefined;
  return { owner, repo, host: host.toLowerCase() };
}

/** The REST API root: GITHUB_API_URL when set (as in a job), else github.com's or a GHES host's. */
export function apiBaseUrl(repository: Repository, env: NodeJS.ProcessEnv): string {
  if (env.GITHUB_API_URL) return env.GITHUB_API_URL.replace(/\/+$/, '');
  return repository.host === 'github.com' ? 'https://api.github.com' : `https://${repository.host}/api/v3`;
}

/** Runs git in `cwd` and returns its trimmed stdout; a parameter so tests can replace it. */
export type Git = (args: string[], cwd: string) => Promise<string>;

export const runGit: Git = async (args, cwd) => {
  const { stdout } = await promisify(execFile)('git', args, { cwd, encoding: 'utf8', timeout: 10_000 });
  return stdout.trim();
};

/** The working tree's top directory, or an error saying to run inside a repository. */
export async function gitTopLevel(cwd: string, git: Git = runGit): Promise<string> {
  try {
    return await git(['rev-parse', '--show-toplevel'], cwd);
  } catch (error) {
    throw new EggError('ERR_USAGE', `${cwd} is not inside a git repository`, {
      cause: error,
      hint: 'run `egg ci init` in the repository the workflow is for',
    });
  }
}

/** The repository of the `origin` remote, or an error saying to pass `--repo`. */
export async function originRepository(cwd: string, git: Git = runGit): Promise<Repository> {
  let url: string;
  try {
    url = await git(['remote', 'get-url', 'origin'], cwd);
  } catch (error) {
    throw new EggError('ERR_USAGE', 'this repository has no remote named origin', {
      cause: error,
      hint: 'pass the GitHub repository as --repo OWNER/NAME',
    });
  }
  const repository = parseRemoteUrl(url);
  if (repository === undefined) {
    // The URL may embed a credential, so it is not quoted.
    throw new EggError('ERR_USAGE', 'the remote origin is not a GitHub repository URL', {
      hint: 'pass the GitHub repository as --repo OWNER/NAME',
    });
  }
  return repository;
}
