/**
 * The project's one private-file writer (src/own-files.ts), used by `egg secrets pull
 * --out`, the Action's dotenv and token files, the login session and refresh token, and the
 * trust records: 0600, atomic, and never through (nor over) a planted link or FIFO.
 */
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writePrivateFile } from '../../src/own-files.js';

describe('writePrivateFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'egg-own-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes 0600, replaces a regular file atomically, and leaves no temporary file', () => {
    const path = join(dir, 'out.env');
    writeFileSync(path, 'old', { mode: 0o644 });
    writePrivateFile(path, 'A=1\n');
    expect(readFileSync(path, 'utf8')).toBe('A=1\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['out.env']);
  });

  it('refuses to write secrets through a planted symlink, leaving the link and its target as they were', () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'untouched');
    const path = join(dir, 'out.env');
    symlinkSync(target, path);
    expect(() => writePrivateFile(path, 'A=secret\n', { what: 'secrets' })).toThrow(
      expect.objectContaining({
        code: 'ERR_INSECURE_PERMISSIONS',
        message: `${path} is a symlink; refusing to write secrets through it`,
        hint: 'remove it, then try again',
      }),
    );
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path)).toBe(target);
    expect(readdirSync(dir).sort()).toEqual(['elsewhere', 'out.env']);
  });

  it('refuses to write through a dangling symlink planted where the file will be', () => {
    const path = join(dir, 'login.json');
    symlinkSync(join(dir, 'created-by-the-attacker'), path);
    expect(() => writePrivateFile(path, '{}', { what: 'the login session', hint: 'remove it' })).toThrow(
      expect.objectContaining({
        message: `${path} is a symlink; refusing to write the login session through it`,
        hint: 'remove it',
      }),
    );
    expect(readdirSync(dir)).toEqual(['login.json']);
  });

  it('refuses to replace a planted FIFO, without opening it', () => {
    const path = join(dir, 'out.env');
    execFileSync('mkfifo', [path]);
    expect(() => writePrivateFile(path, 'A=secret\n', { what: 'secrets' })).toThrow(
      expect.objectContaining({
        code: 'ERR_INSECURE_PERMISSIONS',
        message: `${path} is a FIFO; refusing to write secrets through it`,
      }),
    );
    expect(lstatSync(path).isFIFO()).toBe(true);
  });

  it('refuses a directory at the path', () => {
    expect(() => writePrivateFile(dir, 'x')).toThrow(
      expect.objectContaining({ message: `${dir} is a directory; refusing to write through it` }),
    );
  });
});
