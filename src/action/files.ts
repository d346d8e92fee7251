/**
 * Files the Action writes for later steps (the dotenv file, the web-identity token): mode
 * 0600, directly inside RUNNER_TEMP, never through a symlink, and recorded so the post
 * step can delete exactly these.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { EggError } from '../errors.js';

/** RUNNER_TEMP, which the runner empties after the job; the Action writes nowhere else. */
export function runnerTemp(env: NodeJS.ProcessEnv): string {
  const dir = env.RUNNER_TEMP;
  if (!dir || !isAbsolute(dir)) {
    throw new EggError('ERR_INVALID_CONFIG', 'RUNNER_TEMP is not set to an absolute directory', {
      hint: 'files are written only under RUNNER_TEMP, which GitHub runners always set',
    });
  }
  return dir;
}

/** Whether `path` lies directly inside `dir` (the only place the Action writes or deletes). */
export function isDirectlyInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.includes('/') && !rel.includes('\\');
}

/**
 * Write `content` to `dir/name` with mode 0600, atomically (a private temporary file, then
 * `rename`), refusing when `dir/name` is a symlink or anything but a regular file.
 */
export function writePrivateFile(dir: string, name: string, content: Buffer): string {
  const path = join(dir, name);
  if (!isDirectlyInside(dir, path)) throw new TypeError(`not a plain file name: ${name}`);
  try {
    const stat = lstatSync(path);
    if (!stat.isFile()) {
      throw new EggError(
        'ERR_INSECURE_PERMISSIONS',
        `${path} exists and is ${stat.isSymbolicLink() ? 'a symlink' : 'not a regular file'}; refusing to write through it`,
        { hint: 'remove it, or choose another dotenv-file name' },
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  // O_EXCL|O_NOFOLLOW: a file or link planted at the temporary name makes this fail, never redirects it.
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // rename replaces a link planted since the check, rather than following it.
    renameSync(tmp, path);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw error;
  }
  return path;
}
