/**
 * The login session on disk: `$EGG_HOME/login.json`, mode 0600, refused when it is a
 * symlink or open to others. It holds who logged in where, for which role, which store
 * keeps the refresh token, and the cached STS credentials with their expiry: every `egg`
 * command is its own process, and caching saves each of them a refresh grant and an STS
 * call (the AWS CLI caches its SSO credentials the same way, in `~/.aws/cli/cache`). The
 * refresh token is never in this file.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { EggError } from '../errors.js';
import { assertPrivateFile, ensureHome } from '../home.js';
import { LOCK_FILE, SESSION_FILE } from './files.js';
import { removeFile, writePrivateFile } from '../own-files.js';
import type { TokenStoreKind } from './token-store.js';

/** A lock older than this was left by a process that died. */
const STALE_LOCK_MS = 60_000;

export interface CachedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: string;
  assumedRoleArn: string;
}

export interface Session {
  version: 1;
  issuer: string;
  clientId: string;
  scopes: string;
  roleArn: string;
  region: string;
  durationSeconds: number;
  subject: string;
  email?: string;
  tokenStore: TokenStoreKind;
  /** Whether the issuer gave a refresh token (without one, the session ends with its credentials). */
  refreshable: boolean;
  loggedInAt: string;
  credentials: CachedCredentials;
}

export function sessionPath(home: string): string {
  return join(home, SESSION_FILE);
}

/** The session in `home`, or undefined when nobody is logged in. */
export function readSession(home: string): Session | undefined {
  const path = sessionPath(home);
  try {
    assertPrivateFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let session: unknown;
  try {
    session = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw damaged(path);
  }
  if (!isSession(session)) throw damaged(path);
  return session;
}

export function writeSession(home: string, session: Session): void {
  ensureHome(home, { create: true });
  writePrivateFile(sessionPath(home), `${JSON.stringify(session, null, 2)}\n`, {
    what: 'the login session',
    hint: 'remove it, then run `egg login` again',
  });
}

export function deleteSession(home: string): boolean {
  return removeFile(sessionPath(home));
}

function damaged(path: string): EggError {
  return new EggError('ERR_LOGIN_REQUIRED', `the login session ${path} is damaged`, {
    hint: 'run `egg logout`, then `egg login`',
  });
}

function isSession(value: unknown): value is Session {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  const strings = [
    'issuer',
    'clientId',
    'scopes',
    'roleArn',
    'region',
    'subject',
    'tokenStore',
    'loggedInAt',
  ];
  if (s.version !== 1 || !strings.every((key) => typeof s[key] === 'string')) return false;
  if (!['file', 'secret-tool', 'keychain'].includes(s.tokenStore as string)) return false;
  const c = s.credentials as Record<string, unknown> | undefined;
  return (
    typeof c === 'object' &&
    c !== null &&
    ['accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration', 'assumedRoleArn'].every(
      (key) => typeof c[key] === 'string',
    )
  );
}

/**
 * Run `fn` holding `$EGG_HOME/login.lock`, so two `egg` processes do not both spend a
 * rotating refresh token (the second would present a token the issuer has just retired).
 */
export async function withSessionLock<T>(
  home: string,
  fn: () => Promise<T>,
  options: { sleep: (ms: number) => Promise<void>; waitMs?: number },
): Promise<T> {
  ensureHome(home, { create: true });
  const path = join(home, LOCK_FILE);
  const waitMs = options.waitMs ?? 30_000;
  for (let waited = 0; ; waited += 100) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) {
        unlinkSync(path);
        continue;
      }
    } catch {
      continue;
    }
    if (waited >= waitMs) {
      throw new EggError('ERR_CONFLICT', `another egg process holds ${path}`, {
        hint: `if none is running, delete ${path}`,
      });
    }
    await options.sleep(100);
  }
  try {
    return await fn();
  } finally {
    removeFile(path);
  }
}
