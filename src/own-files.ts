/**
 * Files only the user can have written: reading settings and trust records so that no other
 * user, planted link or FIFO can feed them to us, and writing private files (0600, atomic,
 * never through a symlink).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EggError } from './errors.js';

export interface ReadOwnFileOptions {
  /** What the file holds, for messages: "settings", "trusted projects". */
  what: string;
  /** Larger files are refused before they are read. */
  maxBytes: number;
  /** Mode bits no one but the owner may have: 0o022 (not writable by others) or 0o077 (private). */
  forbiddenMode: number;
}

/**
 * The bytes of `path`, or `undefined` when there is none. Refuses (with an `EggError` naming
 * the file and the fix) a symlink, anything but a regular file, a file of another user, a file
 * with any `forbiddenMode` bit, and a file larger than `maxBytes`. The open never blocks (a
 * FIFO planted after the check returns at once) and never follows a link, and the opened
 * descriptor must be the file that was checked.
 */
export function readOwnFile(path: string, options: ReadOwnFileOptions): Buffer | undefined {
  let checked: Stats;
  try {
    checked = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  assertOwnFile(path, checked, options);
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw symlinkRefused(path, options.what);
    throw error;
  }
  try {
    const opened = fstatSync(fd);
    if (opened.dev !== checked.dev || opened.ino !== checked.ino) {
      throw new EggError('ERR_INSECURE_PERMISSIONS', `${path} was replaced while egg read it`, {
        hint: 'find out what is changing it, then try again',
      });
    }
    assertOwnFile(path, opened, options);
    const buffer = Buffer.alloc(options.maxBytes + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > options.maxBytes) throw tooLarge(path, options);
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function assertOwnFile(path: string, stat: Stats, options: ReadOwnFileOptions): void {
  if (stat.isSymbolicLink()) throw symlinkRefused(path, options.what);
  if (!stat.isFile()) {
    throw new EggError(
      'ERR_INSECURE_PERMISSIONS',
      `${path} is ${kindOf(stat)}, not a regular file; refusing to read ${options.what} from it`,
      { hint: 'remove it, or replace it with a regular file' },
    );
  }
  const me = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (me !== undefined && stat.uid !== me) {
    throw new EggError(
      'ERR_INSECURE_PERMISSIONS',
      `${path} belongs to another user (uid ${stat.uid}); egg reads ${options.what} only from your own files`,
      { hint: `remove it, or check it and take it over with \`chown ${me} ${path}\`` },
    );
  }
  if ((stat.mode & options.forbiddenMode) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    const writable = options.forbiddenMode === 0o022;
    throw new EggError(
      'ERR_INSECURE_PERMISSIONS',
      `${path} is ${writable ? 'writable by' : 'open to'} other users (mode ${mode}); refusing to read ${options.what} from it`,
      { hint: `check it, then run \`chmod ${writable ? 'go-w' : '600'} ${path}\`` },
    );
  }
  if (stat.size > options.maxBytes) throw tooLarge(path, options);
}

function symlinkRefused(path: string, what: string): EggError {
  return new EggError(
    'ERR_INSECURE_PERMISSIONS',
    `${path} is a symlink; egg reads ${what} only from a regular file`,
    {
      hint: 'replace the link with a copy of the file it points to',
    },
  );
}

function tooLarge(path: string, options: ReadOwnFileOptions): EggError {
  return new EggError(
    'ERR_INVALID_CONFIG',
    `${path} is larger than ${options.maxBytes / 1024} KiB; refusing to read it as ${options.what}`,
  );
}

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a file';
}

export interface WritePrivateFileOptions {
  /** What the file holds, for messages: "secrets", "the login session". */
  what?: string;
  /** What to do instead, when the path is refused. Default: remove it and try again. */
  hint?: string;
}

/**
 * The one private-file writer of the project (the CLI's `--out`, the Action's files, the
 * login session and refresh token, the trust records). Writes `data` to `path` with mode
 * 0600, atomically: a private temporary file beside it (created with O_EXCL|O_NOFOLLOW, so
 * nothing planted at that name is followed), fsync, then `rename`. Refuses when `path` is a
 * symlink or anything but a regular file, so a planted link or FIFO is reported, never
 * written through nor silently replaced.
 */
export function writePrivateFile(
  path: string,
  data: Uint8Array | string,
  options: WritePrivateFileOptions = {},
): void {
  try {
    const stat = lstatSync(path);
    if (!stat.isFile()) {
      const what = options.what === undefined ? '' : ` ${options.what}`;
      throw new EggError(
        'ERR_INSECURE_PERMISSIONS',
        `${path} is ${stat.isSymbolicLink() ? 'a symlink' : kindOf(stat)}; refusing to write${what} through it`,
        { hint: options.hint ?? 'remove it, then try again' },
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // rename replaces a link planted since the check rather than following it.
    renameSync(tmp, path);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw error;
  }
}

/** Unlink `path` (a symlink itself, never its target); whether it existed. */
export function removeFile(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
