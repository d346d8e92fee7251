/**
 * The configuration files: which `.egg.json` a directory has (its own, or its repository
 * root's, never another ancestor's), and how a settings file is read: a regular file of the
 * user's that no one else can write, at most 64 KiB, one JSON object of known settings.
 * Which settings need `egg trust` is decided here too (`ROUTING_SETTINGS`); src/trust.ts
 * records the trust and src/config.ts enforces it.
 */
import { createHash } from 'node:crypto';
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { EggError } from './errors.js';
import { readOwnFile } from './own-files.js';

/** The settings a file or flag may give; every field optional. */
export interface ConfigInput {
  backend?: string | undefined;
  namespace?: string | undefined;
  keyring?: string | undefined;
  rotation?: string | undefined;
  table?: string | undefined;
  region?: string | undefined;
  kmsKeyId?: string | undefined;
  signingKeyId?: string | undefined;
  anchorKeyId?: string | undefined;
  sealingKeyId?: string | undefined;
  oidcIssuer?: string | undefined;
  oidcClientId?: string | undefined;
  oidcScopes?: string | undefined;
  roleArn?: string | undefined;
  oidcRedirectPort?: string | undefined;
  apiUrl?: string | undefined;
}

/** Settings with no default: copied into the config only when some layer gives them. */
export const OPTIONAL_FIELDS = [
  'table',
  'region',
  'kmsKeyId',
  'signingKeyId',
  'anchorKeyId',
  'sealingKeyId',
  'oidcIssuer',
  'oidcClientId',
  'oidcScopes',
  'roleArn',
  'oidcRedirectPort',
  'apiUrl',
] as const;

export const FIELDS = ['backend', 'namespace', 'keyring', 'rotation', ...OPTIONAL_FIELDS] as const;
export type Setting = (typeof FIELDS)[number];

/**
 * The settings that decide where secrets go or come from, or how they are protected: a
 * project file gives them only once its content is trusted (`egg trust`). Each, and why
 * (docs/configuration.md says the same):
 * - `backend`, `table`, `region`: which store receives and serves the secrets;
 * - `namespace`: which partition a `set` writes and a `pull` reads;
 * - `kmsKeyId`, `keyring`: which key wraps the data keys (another account's key could decrypt them);
 * - `signingKeyId`: which key signs tokens;
 * - `anchorKeyId`: which key's audit checkpoints `egg audit verify` trusts;
 * - `sealingKeyId`: which key's public half seals provider keys (another's could unseal them);
 * - `rotation`: `deferred` leaves a read secret under its old data key until a rotator runs;
 * - `oidcIssuer`, `oidcClientId`, `roleArn`: whom `egg login` signs in with and which role,
 *   hence which account's credentials every later command uses;
 * - `apiUrl`: which API the api backend sends secrets to and reads them from.
 * Not routing: `oidcScopes` (must include `openid`; the role's trust policy decides) and
 * `oidcRedirectPort` (a loopback port egg listens on itself; PKCE protects the code).
 */
export const ROUTING_SETTINGS: readonly Setting[] = [
  'backend',
  'namespace',
  'keyring',
  'rotation',
  'table',
  'region',
  'kmsKeyId',
  'signingKeyId',
  'anchorKeyId',
  'sealingKeyId',
  'oidcIssuer',
  'oidcClientId',
  'roleArn',
  'apiUrl',
];

export const PROJECT_FILE = '.egg.json';

/** A settings file as read: where it is, the SHA-256 of its exact bytes, and its settings. */
export interface ConfigFile {
  /** The path with its directory resolved through symlinks, so one file has one name. */
  path: string;
  sha256: string;
  settings: ConfigInput;
}

/** Settings files are small; anything larger is not one. */
export const MAX_CONFIG_BYTES = 64 * 1024;

/**
 * Read a settings file, or `undefined` when there is none. Refuses a symlink, anything but a
 * regular file (a FIFO would otherwise hang every command), a file of another user or one
 * others can write, a file over 64 KiB, invalid JSON and unknown settings, naming the file.
 */
export function readConfigFile(path: string): ConfigFile | undefined {
  const bytes = readOwnFile(path, { what: 'settings', maxBytes: MAX_CONFIG_BYTES, forbiddenMode: 0o022 });
  if (bytes === undefined) return undefined;
  return {
    path: canonicalPath(path),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    settings: parseSettings(bytes, path),
  };
}

/** `path` with its directory's symlinks resolved (the file itself is never a link we follow). */
export function canonicalPath(path: string): string {
  const absolute = resolve(path);
  try {
    return join(realpathSync(dirname(absolute)), basename(absolute));
  } catch {
    return absolute;
  }
}

function parseSettings(bytes: Buffer, path: string): ConfigInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new EggError('ERR_INVALID_CONFIG', `${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EggError('ERR_INVALID_CONFIG', `${path} must hold a JSON object`);
  }
  const input: ConfigInput = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new EggError('ERR_INVALID_CONFIG', `${path}: unknown setting "${key}"`, {
        hint: `settings are ${FIELDS.join(', ')}`,
      });
    }
    // A port reads naturally as a number; every other setting is a string.
    if (key === 'oidcRedirectPort' && Number.isInteger(value)) {
      input.oidcRedirectPort = String(value);
      continue;
    }
    if (typeof value !== 'string')
      throw new EggError('ERR_INVALID_CONFIG', `${path}: "${key}" must be a string`);
    input[key as Setting] = value;
  }
  return input;
}

/**
 * The `.egg.json` egg reads in `cwd`: the one in `cwd` itself, else the one at the root of
 * the enclosing git repository (the nearest ancestor holding `.git`), if that `.git` is the
 * user's own; never one in any other ancestor, which anyone who can write there (a shared
 * `/tmp`, a parent checkout) could have planted. The path is returned when anything is
 * there, so that `readConfigFile` refuses what is not a regular file instead of skipping it.
 */
export function findProjectFile(cwd: string): string | undefined {
  const dir = resolve(cwd);
  const here = join(dir, PROJECT_FILE);
  if (exists(here)) return here;
  const root = repositoryRoot(dir);
  if (root === undefined || root === dir) return undefined;
  const atRoot = join(root, PROJECT_FILE);
  return exists(atRoot) ? atRoot : undefined;
}

/**
 * The nearest directory at or above `dir` holding `.git` (a directory, or a file in worktrees
 * and submodules), when that `.git` belongs to the current user. Git refuses a repository
 * owned by someone else ("dubious ownership", safe.directory); so do we, reading nothing there.
 */
export function repositoryRoot(dir: string): string | undefined {
  const me = typeof process.getuid === 'function' ? process.getuid() : undefined;
  for (let current = resolve(dir); ;) {
    try {
      const stat = lstatSync(join(current, '.git'));
      return me === undefined || stat.uid === me ? current : undefined;
    } catch {}
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
