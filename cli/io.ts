/** Small I/O helpers shared by commands: reading stdin and writing private files. */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EggError } from '../src/errors.js';

/** All of stdin as bytes. */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Write `data` to `path` with mode 0600, atomically (a private temp file renamed over it).
 * Refuses to write through a symlink, so a planted link cannot redirect secrets elsewhere.
 */
export function writePrivateFile(path: string, data: Uint8Array): void {
  try {
    if (lstatSync(path).isSymbolicLink()) {
      throw new EggError('ERR_USAGE', `${path} is a symlink; refusing to write secrets through it`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {}
    try {
      unlinkSync(tmp);
    } catch {}
    throw error;
  }
}
