/**
 * The npm package's launcher keeps a V8 code cache of the bundle, and a code cache is code:
 * V8 runs what it holds after checking only the source's length. These tests plant one the
 * way an attacker would and show it runs only where nobody but the user can write.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { egg } from '../support/cli.js';

const BUNDLE = new URL('../../build/egg.cjs', import.meta.url).pathname;

/**
 * A cache V8 accepts for the real bundle (same length, same file name) whose top level
 * prints PWNED instead of running egg.
 */
function hostileCache(): Buffer {
  const length = readFileSync(BUNDLE).toString('utf8').length;
  const payload = "process.stdout.write('PWNED\\n');process.exit(0);";
  const evil = `${payload}/*${' '.repeat(length - payload.length - 4)}*/`;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${evil}\n})`, {
    filename: BUNDLE,
  });
  return script.createCachedData();
}

describe('the launcher’s code cache', () => {
  const base = mkdtempSync(join(tmpdir(), 'egg-code-cache-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const cacheFile = (home: string) => readdirSync(join(home, 'cache')).find((file) => file.endsWith('.v8'));

  function vault(name: string) {
    const home = join(base, name);
    const env = { EGG_HOME: home, EGG_NAMESPACE: 'acme', TMPDIR: join(base, `${name}-tmp`) };
    mkdirSync(env.TMPDIR);
    expect(egg(['secrets', 'set', 'CACHE_CHECK', '--from-env', 'EGG_NAMESPACE'], { env }).code).toBe(0);
    // The first command made EGG_HOME as it ran, so the second is the first that may cache.
    expect(egg(['secrets', 'list'], { env }).code).toBe(0);
    return { home, env };
  }

  it('writes no code cache to the shared temporary directory, where another user could plant one', () => {
    const { env } = vault('tmp');
    expect(egg(['secrets', 'list'], { env }).stdout).toContain('CACHE_CHECK');
    expect(readdirSync(env.TMPDIR)).toEqual([]);
  });

  it('keeps its cache in EGG_HOME, readable by the user alone, and runs from it', () => {
    const { home, env } = vault('private');
    const files = readdirSync(join(home, 'cache')).filter((file) => file !== 'node');
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^egg-[0-9a-f]+-v[\d.]+-\w+\.v8$/);
    const listed = egg(['secrets', 'list'], { env });
    expect([listed.code, listed.stdout.includes('CACHE_CHECK')]).toEqual([0, true]);
    // The same file, not made again: it was accepted.
    expect(readdirSync(join(home, 'cache')).filter((file) => file !== 'node')).toEqual(files);
  });

  it('refuses a code cache planted in an EGG_HOME that others can write', () => {
    const { home, env } = vault('shared');
    const name = cacheFile(home);
    // Where the user alone can write, the launcher trusts the cache: that is why it must be private.
    writeFileSync(join(home, 'cache', name as string), hostileCache());
    expect(egg(['secrets', 'list'], { env }).stdout).toBe('PWNED\n');
    chmodSync(home, 0o777);
    // Opened to others, the home is refused (home.ts), and the planted cache never runs.
    const listed = egg(['secrets', 'list'], { env });
    expect([listed.code, listed.stdout, listed.stderr]).toEqual([
      1,
      '',
      `Error: ${home} is open to other users (mode 0777); refusing to use it (run \`chmod 700 ${home}\`).\n`,
    ]);
  });

  it('refuses a cache directory that others can read or write', () => {
    const { home, env } = vault('open-cache');
    const name = cacheFile(home);
    writeFileSync(join(home, 'cache', name as string), hostileCache());
    chmodSync(join(home, 'cache'), 0o755);
    const listed = egg(['secrets', 'list'], { env });
    expect([listed.code, listed.stdout.includes('CACHE_CHECK')]).toEqual([0, true]);
  });

  it('runs the bundle when the cache is damaged, and makes it again', () => {
    const { home, env } = vault('damaged');
    const name = cacheFile(home);
    const file = join(home, 'cache', name as string);
    writeFileSync(file, Buffer.alloc(4096, 0x5a));
    const listed = egg(['secrets', 'list'], { env });
    expect([listed.code, listed.stdout.includes('CACHE_CHECK')]).toEqual([0, true]);
    expect(readFileSync(file).equals(Buffer.alloc(4096, 0x5a))).toBe(false);
  });

  it('makes no EGG_HOME of its own: a command that does not create the vault leaves none behind', () => {
    const home = join(base, 'never');
    const listed = egg(['secrets', 'list'], { env: { EGG_HOME: home, EGG_NAMESPACE: 'acme' } });
    expect(listed.code).not.toBe(0);
    expect(existsSync(home)).toBe(false);
  });
});
