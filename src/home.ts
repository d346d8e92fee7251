/**
 * `EGG_HOME`, the embedded default's directory: the SQLite vault and the local keys.
 * The directory is 0700 and every file 0600, owned by the current user; a vault whose
 * permissions are looser is refused with the command that fixes it. Symlinks are refused.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EggError } from './errors.js';

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.EGG_HOME ?? join(homedir(), '.egg'));
}

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** Make sure `home` exists (when `create`) and is a private directory; returns whether it existed. */
export function ensureHome(home: string, options: { create: boolean }): boolean {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(home);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!options.create) {
      throw new EggError('ERR_NOT_INITIALIZED', `there is no vault at ${home}`, {
        hint: 'run `egg init` (or `egg secrets set NAME`) to create one, or set EGG_HOME',
      });
    }
    mkdirSync(home, { recursive: true, mode: 0o700 });
    return false;
  }
  if (!stat.isDirectory()) {
    throw new EggError('ERR_INVALID_CONFIG', `EGG_HOME ${home} is not a directory`);
  }
  assertPrivate(home, stat, 0o700);
  return true;
}

/** Refuse a file that is a symlink, not ours, or readable by anyone else. */
export function assertPrivateFile(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink() || !stat.isFile()) {
    throw new EggError('ERR_INSECURE_PERMISSIONS', `${path} is not a regular file`, {
      hint: 'the vault refuses symlinks; replace it with the file itself',
    });
  }
  assertPrivate(path, stat, 0o600);
}

function assertPrivate(path: string, stat: { mode: number; uid: number }, wanted: number): void {
  const me = uid();
  if (me !== undefined && stat.uid !== me) {
    throw new EggError('ERR_INSECURE_PERMISSIONS', `${path} belongs to another user (uid ${stat.uid})`, {
      hint: `the vault must belong to you; run \`chown ${me} ${path}\``,
    });
  }
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new EggError(
      'ERR_INSECURE_PERMISSIONS',
      `${path} is open to other users (mode ${mode}); refusing to use it`,
      { hint: `run \`chmod ${wanted.toString(8)} ${path}\`` },
    );
  }
}

/** Create an empty 0600 file if it does not exist, then check it. */
export function ensurePrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  assertPrivateFile(path);
}

/**
 * Read a key file, creating it with `bytes` random bytes if absent. Creation is atomic
 * (write a private temp file, then `link`), so two processes racing agree on one key.
 */
export function readOrCreateKey(path: string, bytes: number): Buffer {
  try {
    assertPrivateFile(path);
    return readKey(path, bytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(bytes);
  if (createKeyFile(path, key)) return key;
  key.fill(0);
  assertPrivateFile(path);
  return readKey(path, bytes);
}

/**
 * Write `key` to a new 0600 file at `path`, atomically and durably: a private temp file,
 * fsync, `link` (which fails rather than replace an existing file), then fsync of the
 * directory so the name survives a crash. False when `path` already exists.
 */
export function createKeyFile(path: string, key: Buffer): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, key);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    unlinkSync(tmp);
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return true;
}

/** Whether anything (a file, a symlink, a directory) is at `path`. */
export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Read an existing key file after checking it. */
export function readKeyFile(path: string, bytes: number): Buffer {
  try {
    assertPrivateFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EggError('ERR_NOT_INITIALIZED', `the vault key ${path} is missing`, {
        hint: 'restore it from your backup; without it the secrets in this vault cannot be decrypted',
      });
    }
    throw error;
  }
  return readKey(path, bytes);
}

function readKey(path: string, bytes: number): Buffer {
  const key = readFileSync(path);
  if (key.length !== bytes) {
    key.fill(0);
    throw new EggError('ERR_INVALID_CONFIG', `the key file ${path} is damaged (expected ${bytes} bytes)`);
  }
  return key;
}
