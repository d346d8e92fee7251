/**
 * SQLite's failures as the user should see them: which file, what is wrong, and what to do
 * (issue 12, item 6). A raw "database is locked" names neither the file nor a way out.
 * Only conditions of the file and its machine are translated; a constraint error, which
 * the stores catch and read as a conflict, passes through unchanged.
 */
import type { DatabaseSync } from 'node:sqlite';
import { EggError } from '../errors.js';

// SQLite's primary result codes (https://sqlite.org/rescode.html).
const BUSY = 5;
const LOCKED = 6;
const READONLY = 8;
const IOERR = 10;
const CORRUPT = 11;
const FULL = 13;
const CANTOPEN = 14;
const NOTADB = 26;

/** `error` as an `EggError` naming `path` when it is one of the conditions above; else `error`. */
export function explainSqliteError(error: unknown, path: string): unknown {
  const { code, errcode, errstr } = error as { code?: string; errcode?: number; errstr?: string };
  if (code !== 'ERR_SQLITE_ERROR' || typeof errcode !== 'number') return error;
  const says = `SQLite reports "${errstr ?? 'error'}"`;
  const fail = (code: 'ERR_STORE_UNAVAILABLE' | 'ERR_VAULT_DAMAGED', message: string, hint: string) =>
    new EggError(code, message, { cause: error, hint });
  switch (errcode & 0xff) {
    case BUSY:
    case LOCKED:
      return fail(
        'ERR_STORE_UNAVAILABLE',
        `${path} stayed locked by another process for longer than egg waits`,
        `another egg (egg rotate --follow, egg proxy serve) or a database tool holds it; retry, or see who has it open with \`fuser -v ${path}\``,
      );
    case READONLY:
      return fail(
        'ERR_STORE_UNAVAILABLE',
        `${path} cannot be written (${says})`,
        'egg needs write access to the file and to its directory, for the -wal and -shm files beside it',
      );
    case FULL:
      return fail(
        'ERR_STORE_UNAVAILABLE',
        `the disk holding ${path} is full (${says}); nothing was written`,
        'free some space and run the command again',
      );
    case IOERR:
    case CANTOPEN:
      return fail(
        'ERR_STORE_UNAVAILABLE',
        `${path} could not be read or written (${says})`,
        'check the disk and that the file and its directory still exist and are yours',
      );
    case CORRUPT:
    case NOTADB:
      return fail('ERR_VAULT_DAMAGED', `${path} is damaged: ${says}`, `restore ${path} from your backup`);
    default:
      return error;
  }
}

/**
 * `db`, with every call on it and on the statements it prepares throwing
 * `explainSqliteError`'s translation instead of the raw SQLite error.
 */
export function explainingErrors(db: DatabaseSync, path: string): DatabaseSync {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, property) {
        const value: unknown = Reflect.get(object, property, object);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          try {
            const result: unknown = (value as (...a: unknown[]) => unknown).apply(object, args);
            return property === 'prepare' ? wrap(result as object) : result;
          } catch (error) {
            throw explainSqliteError(error, path);
          }
        };
      },
    });
  return wrap(db);
}
