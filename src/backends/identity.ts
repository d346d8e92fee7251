/**
 * Identities (backend.ts): the OS user of a laptop or runner, and, for the aws backend, the
 * credentials the CLI acts with: an `egg login` session when there is one and the
 * environment names no other credentials, else the SDK's default chain. The Action builds
 * its own from the STS session (src/action/aws-credentials.ts), the Lambda uses its role.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { osActor } from '../actor.js';
import type { EggConfig } from '../config.js';
import type { Logger } from '../log.js';
import { SESSION_FILE } from '../login/files.js';
import type { Identity } from './backend.js';

/** The OS user with the SDK's default credentials. */
export function osUserIdentity(actor: string = osActor()): Identity {
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
