/**
 * The file under a long-lived SQLite connection (the proxy's), and what can go wrong with it
 * while the connection stays open (issue 9 item 4):
 *
 * - deleted, renamed over, or swapped for a symlink: the connection keeps the old inode,
 *   while every other process (`egg killswitch`, `egg tokens revoke`) opens the new file,
 *   so revocations stop reaching this process. `SqliteFileIdentity` records the device and
 *   inode of the database and of its WAL companions (`-wal`, `-shm`) at open, and says what
 *   changed since.
 * - read-only (the files, or the directory): SQLite then opens the WAL index (`-shm`)
 *   read-only, without the lock that tells other processes it is in use, and no spend can
 *   be reserved. `readOnlyReason` says so before anything is opened.
 *
 * Only stat(2) and access(2) here: opening and closing one of these files would drop every
 * POSIX lock this process holds on it, SQLite's own included (fcntl(2), "Advisory record
 * locking"), and another process would then take the WAL index for unused and rebuild it
 * under our mapping.
 */
import { accessSync, constants, lstatSync } from 'node:fs';
import { basename, dirname } from 'node:path';

interface Identity {
  dev: number;
  ino: number;
  /** The WAL index only grows while it is in use: SQLite truncates it only when nobody holds it. */
  size: number;
}

const COMPANIONS = ['', '-wal', '-shm'] as const;

export class SqliteFileIdentity {
  readonly #path: string;
  readonly #identities: Map<string, Identity>;

  private constructor(path: string, identities: Map<string, Identity>) {
    this.#path = path;
    this.#identities = identities;
  }

  /** What is at `path` (and its `-wal`, `-shm`, where they exist) now: call right after opening. */
  static record(path: string): SqliteFileIdentity {
    const identities = new Map<string, Identity>();
    for (const suffix of COMPANIONS) {
      const found = identify(path + suffix);
      if (found !== undefined) identities.set(suffix, found);
    }
    return new SqliteFileIdentity(path, identities);
  }

  /** Whether the database file itself is the one that was recorded. */
  sameFile(other: SqliteFileIdentity): boolean {
    const mine = this.#identities.get('');
    const theirs = other.#identities.get('');
    return mine !== undefined && theirs !== undefined && mine.dev === theirs.dev && mine.ino === theirs.ino;
  }

  /** One sentence saying which file changed and how, or undefined when all are as recorded. */
  changed(): string | undefined {
    for (const [suffix, recorded] of this.#identities) {
      const path = this.#path + suffix;
      const name = basename(path);
      let now: Identity | undefined;
      try {
        now = identify(path);
      } catch (error) {
        return `${name} can no longer be checked (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
      }
      if (now === undefined) return `${name} was deleted`;
      if (now.dev !== recorded.dev || now.ino !== recorded.ino) return `${name} was replaced`;
      if (suffix === '-shm' && now.size < recorded.size) return `${name} was truncated`;
      recorded.size = now.size;
    }
    return undefined;
  }
}

/** Why this process cannot write the database at `path` (or create its WAL files), or undefined. */
export function readOnlyReason(path: string): string | undefined {
  const dir = dirname(path);
  if (!writable(dir)) return `the directory ${dir} is read-only for this process`;
  for (const suffix of COMPANIONS) {
    const file = path + suffix;
    if (identify(file) !== undefined && !writable(file))
      return `${basename(file)} is read-only for this process`;
  }
  return undefined;
}

/** dev, ino and size of `path` itself (a symlink is its own inode), or undefined when absent. */
function identify(path: string): Identity | undefined {
  try {
    const stat = lstatSync(path);
    return { dev: stat.dev, ino: stat.ino, size: stat.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** SQLITE_BUSY and SQLITE_LOCKED (and their extended codes): another connection holds the lock. */
const LOCKED = new Set([5, 6]);

/** Whether `error` (or an error it was caused by) is SQLite saying another connection holds the lock. */
export function isSqliteLocked(error: unknown): boolean {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { errcode?: unknown }).errcode;
    if (typeof code === 'number' && LOCKED.has(code & 0xff)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
