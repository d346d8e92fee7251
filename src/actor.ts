/**
 * The one place the audit trail's actor string for a person or runner is built: the OS
 * user, and the GitHub Actions run when there is one. (An AWS session's actor is its
 * assumed-role ARN, the rotator's `rotator:<who>`, the proxy's `proxy`.)
 */
import { userInfo } from 'node:os';

/**
 * `user:<name>` (or `uid:<n>` when the user database has no name for this process), then
 * ` (<repository> run <id>)` when `env` names a GitHub Actions run.
 * @example
 * osActor() // 'user:alice'
 * osActor({ GITHUB_REPOSITORY: 'acme/app', GITHUB_RUN_ID: '42' }) // 'user:runner (acme/app run 42)'
 */
export function osActor(env: NodeJS.ProcessEnv = {}): string {
  let user: string;
  try {
    user = `user:${userInfo().username}`;
  } catch {
    user = `uid:${process.getuid?.() ?? 'unknown'}`;
  }
  const run =
    env.GITHUB_RUN_ID === undefined ? '' : ` (${env.GITHUB_REPOSITORY ?? 'github'} run ${env.GITHUB_RUN_ID})`;
  return `${user}${run}`;
}
