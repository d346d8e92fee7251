/**
 * Files the Action writes for later steps (the dotenv file, the web-identity token): mode
 * 0600, directly inside RUNNER_TEMP, never through a symlink, and recorded so the post
 * step can delete exactly these.
 */
import { isAbsolute, join, relative } from 'node:path';
import { EggError } from '../errors.js';
import { writePrivateFile } from '../own-files.js';

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
 * Write `content` to `dir/name` through the project's one private-file writer (0600,
 * atomic, refusing a symlink or anything but a regular file at that name), after checking
 * that the name is a plain file name directly inside `dir`.
 */
export function writeRunnerFile(dir: string, name: string, content: Buffer, what: string): string {
  const path = join(dir, name);
  if (!isDirectlyInside(dir, path)) throw new TypeError(`not a plain file name: ${name}`);
  writePrivateFile(path, content, { what, hint: 'remove it, or choose another dotenv-file name' });
  return path;
}
