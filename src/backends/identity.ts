/**
 * Identities (backend.ts): the OS user of a laptop or runner, and, for the aws backend, the
 * credentials the CLI acts with: an `egg login` session when there is one and the
 * environment names no other credentials, else the SDK's default chain. The Action builds
 * its own from the STS session (src/action/aws-credentials.ts), the Lambda uses its role.
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { EggConfig } from '../config.js';
import type { Logger } from '../log.js';
import { SESSION_FILE } from '../login/files.js';
import type { Identity } from './backend.js';

/** The OS user, as the local backend's actor: `user:<name>` (`uid:<n>` without a passwd entry). */
export function defaultActor(): string {
  try {
    return `user:${userInfo().username}`;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

/** The OS user and, in a workflow run, the run: the Action's local actor (main and post alike). */
export function runnerActor(env: NodeJS.ProcessEnv): string {
  const run =
    env.GITHUB_RUN_ID === undefined ? '' : ` (${env.GITHUB_REPOSITORY ?? 'github'} run ${env.GITHUB_RUN_ID})`;
  return `${defaultActor()}${run}`;
}

/** The OS user with the SDK's default credentials. */
export function osUserIdentity(actor: string = defaultActor()): Identity {
  return { actor };
}

/** Variables that configure the SDK's own credential chain; any of them wins over a login. */
const AMBIENT_CREDENTIALS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
];

/**
 * The CLI's identity: the OS user as actor (or `actor`); on aws, the `egg login` session's
 * credentials (refreshed before they expire) when there is a session and the environment
 * names no other credentials, otherwise the SDK's default chain. Resolve it once per
 * process and open one backend with it: every client then signs with the same session.
 * The login modules (and jose) load only when a session file exists.
 */
export async function cliIdentity(config: EggConfig, logger: Logger, actor?: string): Promise<Identity> {
  const identity = osUserIdentity(actor);
  if (config.backend !== 'aws') return identity;
  if (AMBIENT_CREDENTIALS.some((name) => process.env[name])) return identity;
  if (!existsSync(join(config.home, SESSION_FILE))) return identity;
  const { loginCredentialsProvider } = await import('../login/login.js');
  return { ...identity, credentials: await loginCredentialsProvider(config.home, { logger }) };
}
