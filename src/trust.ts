/**
 * `egg trust`: which project files the user has trusted, as direnv's `allow` does. A record
 * holds a `.egg.json`'s path and the SHA-256 of its exact content, in `$EGG_HOME/trusted.json`
 * (0600, read only when it is a regular file of the user's that no one else can open, written
 * atomically, never through a symlink). An edited file no longer matches its record, so it
 * needs a new `egg trust`. src/config.ts asks `trustStatus` before it applies a project
 * file's routing settings.
 */
import { join } from 'node:path';
import {
  canonicalPath,
  type ConfigFile,
  findProjectFile,
  readConfigFile,
  ROUTING_SETTINGS,
} from './config-file.js';
import { EggError } from './errors.js';
import { ensureHome } from './home.js';
import { readOwnFile, writePrivateFile } from './own-files.js';

/** The trust records' file under `EGG_HOME`. */
export const TRUST_FILE = 'trusted.json';

const MAX_TRUST_BYTES = 1024 * 1024;

/** `trusted`: this content was trusted; `changed`: another content of this path was; else `untrusted`. */
export type TrustStatus = 'trusted' | 'changed' | 'untrusted';

interface TrustRecord {
  sha256: string;
  trustedAt: string;
}

interface TrustRecords {
  version: 1;
  files: Record<string, TrustRecord>;
}

/** Whether the user trusted this exact content of `file`. */
export function trustStatus(home: string, file: Pick<ConfigFile, 'path' | 'sha256'>): TrustStatus {
  const { files } = readRecords(home);
  const record = Object.hasOwn(files, file.path) ? files[file.path] : undefined;
  if (record === undefined) return 'untrusted';
  return record.sha256 === file.sha256 ? 'trusted' : 'changed';
}

/** What `egg trust --show` prints of a project file. */
export interface ProjectTrust {
  path: string;
  sha256: string;
  status: TrustStatus;
  /** The settings that apply only once the file is trusted. */
  routing: Record<string, string>;
  /** Its other settings, which apply regardless. */
  other: Record<string, string>;
}

export interface TrustOptions {
  /** Where to look for the project file (default: the current directory). */
  cwd?: string;
  /** A file named by the user instead of the one `cwd` has. */
  file?: string;
  home: string;
}

/** The project file `egg trust` acts on, read and checked, with its trust status. */
export function inspectProjectFile(options: TrustOptions): ProjectTrust {
  const file = readConfigFile(projectPath(options));
  if (file === undefined) throw noProjectFile(options);
  return describe(file, trustStatus(options.home, file));
}

/**
 * Trust the current content of the project file: record its path and SHA-256. Returns what
 * was trusted, so the caller can show it.
 *
 * @example
 * const trusted = trustProjectFile({ cwd: process.cwd(), home: defaultHome() });
 * // trusted.routing: { namespace: 'acme/web/prod', table: 'egg' }
 */
export function trustProjectFile(options: TrustOptions): ProjectTrust {
  const file = readConfigFile(projectPath(options));
  if (file === undefined) throw noProjectFile(options);
  ensureHome(options.home, { create: true });
  const records = readRecords(options.home);
  records.files[file.path] = { sha256: file.sha256, trustedAt: new Date().toISOString() };
  writeRecords(options.home, records);
  return describe(file, 'trusted');
}

/** Forget the project file's trust (the file itself may be gone); whether there was any. */
export function revokeTrust(options: TrustOptions): { path: string; revoked: boolean } {
  const path = canonicalPath(projectPath(options));
  const records = readRecords(options.home);
  if (!Object.hasOwn(records.files, path)) return { path, revoked: false };
  delete records.files[path];
  writeRecords(options.home, records);
  return { path, revoked: true };
}

function projectPath(options: TrustOptions): string {
  if (options.file !== undefined) return options.file;
  const cwd = options.cwd ?? process.cwd();
  const found = findProjectFile(cwd);
  if (found === undefined) throw noProjectFile(options);
  return found;
}

function noProjectFile(options: TrustOptions): EggError {
  if (options.file !== undefined) return new EggError('ERR_USAGE', `there is no file at ${options.file}`);
  return new EggError(
    'ERR_USAGE',
    `there is no .egg.json in ${options.cwd ?? process.cwd()} or at the root of its repository`,
    { hint: 'egg reads .egg.json only from the current directory or the repository root' },
  );
}

function describe(file: ConfigFile, status: TrustStatus): ProjectTrust {
  const routing: Record<string, string> = {};
  const other: Record<string, string> = {};
  for (const [key, value] of Object.entries(file.settings)) {
    if (value === undefined) continue;
    if ((ROUTING_SETTINGS as readonly string[]).includes(key)) routing[key] = value;
    else other[key] = value;
  }
  return { path: file.path, sha256: file.sha256, status, routing, other };
}

function readRecords(home: string): TrustRecords {
  const path = join(home, TRUST_FILE);
  const bytes = readOwnFile(path, {
    what: 'trusted projects',
    maxBytes: MAX_TRUST_BYTES,
    forbiddenMode: 0o077,
  });
  if (bytes === undefined) return { version: 1, files: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!isRecords(parsed)) {
    throw new EggError('ERR_INVALID_CONFIG', `${path} is damaged`, {
      hint: `remove it and run \`egg trust\` again in each project you trust`,
    });
  }
  return parsed;
}

function isRecords(value: unknown): value is TrustRecords {
  if (typeof value !== 'object' || value === null) return false;
  const { version, files } = value as { version?: unknown; files?: unknown };
  if (version !== 1 || typeof files !== 'object' || files === null || Array.isArray(files)) return false;
  return Object.values(files).every(
    (record: unknown) =>
      typeof record === 'object' &&
      record !== null &&
      typeof (record as TrustRecord).sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test((record as TrustRecord).sha256),
  );
}

function writeRecords(home: string, records: TrustRecords): void {
  ensureHome(home, { create: true });
  writePrivateFile(join(home, TRUST_FILE), `${JSON.stringify(records, null, 2)}\n`, {
    what: 'trusted projects',
  });
}
