/**
 * The login session on disk: `$EGG_HOME/login.json`, mode 0600, refused when it is a
 * symlink or open to others. It holds who logged in where, which store keeps the refresh
 * token, and what the login is for: on the aws backend the role and the cached STS
 * credentials with their expiry, on the api backend the ID token the API takes as its bearer
 * token, with its `exp`. Every `egg` command is its own process, and caching saves each of
 * them a refresh grant (and an STS call); the AWS CLI caches its SSO credentials the same way,
 * in `~/.aws/cli/cache`. The refresh token is never in this file.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { EggError } from '../errors.js';
import { assertPrivateFile, ensureHome } from '../home.js';
import { LOCK_FILE, SESSION_FILE } from './files.js';
import { removeFile, writePrivateFile } from '../own-files.js';
import type { RefreshTokenStoreKind } from './token-store.js';

/** A lock older than this was left by a process that died. */
const STALE_LOCK_MS = 60_000;

export interface CachedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: string;
  assumedRoleArn: string;
}

/** The API's bearer token: the issuer's verified ID token, and its `exp`. */
export interface CachedIdToken {
  token: string;
  expiresAt: string;
}

interface SessionBase {
  version: 1;
  issuer: string;
  clientId: string;
  scopes: string;
  subject: string;
  email?: string;
  tokenStore: RefreshTokenStoreKind;
  /** Whether the issuer gave a refresh token (without one, the session ends with its credentials). */
  refreshable: boolean;
  loggedInAt: string;
}

/** A login for the aws backend (sessions written before the api backend have no `backend`). */
export interface AwsSession extends SessionBase {
  backend?: 'aws';
  roleArn: string;
  region: string;
  durationSeconds: number;
  credentials: CachedCredentials;
}

/** A login for the api backend: no role, no STS; the ID token is the API's bearer token. */
export interface ApiSession extends SessionBase {
  backend: 'api';
  idToken: CachedIdToken;
}

export type Session = AwsSession | ApiSession;

/** When what the session caches (STS credentials, or the ID token) stops being usable. */
export function sessionExpiry(session: Session): string {
  return session.backend === 'api' ? session.idToken.expiresAt : session.credentials.expiration;
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
  const strings = ['issuer', 'clientId', 'scopes', 'subject', 'tokenStore', 'loggedInAt'];
  if (s.version !== 1 || !strings.every((key) => typeof s[key] === 'string')) return false;
  if (!['file', 'secret-tool', 'keychain'].includes(s.tokenStore as string)) return false;
  if (s.backend === 'api') return hasStrings(s.idToken, ['token', 'expiresAt']);
  if (s.backend !== undefined && s.backend !== 'aws') return false;
  return (
    ['roleArn', 'region'].every((key) => typeof s[key] === 'string') &&
    hasStrings(s.credentials, [
      'accessKeyId',
      'secretAccessKey',
      'sessionToken',
      'expiration',
      'assumedRoleArn',
    ])
  );
}

function hasStrings(value: unknown, keys: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return keys.every((key) => typeof record[key] === 'string');
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
