/**
 * The npm package as a user gets it: `npm pack` of the build, installed with
 * `npm install -g` into an empty prefix, then the README's tour run against that `egg`, on
 * the project's Node 24 and on Node 22 (the oldest release line the CLI supports).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTourRan, runTour } from '../support/tour.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE22_DIR = join(ROOT, '.cache', 'node22');
const SYSTEM_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

function npm(args: string[], cwd: string) {
  const result = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 180_000 });
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Node 22 from the npm registry (the `node` package), cached under .cache/; undefined when unavailable. */
function node22(): string | undefined {
  const bin = join(NODE22_DIR, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) {
    const result = spawnSync(
      'npm',
      ['install', '--prefix', NODE22_DIR, '--no-audit', '--no-fund', '--no-save', 'node@22'],
      { encoding: 'utf8', timeout: 180_000 },
    );
    if (result.status !== 0) return undefined;
  }
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return version.startsWith('v22.') ? bin : undefined;
}

describe('the npm package', () => {
  let dir: string;
  let prefix: string;
  let packed: { filename: string; files: { path: string }[] };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egg-pack-'));
    prefix = join(dir, 'prefix');
    // The build is the one `npm test` made (pretest); packing does not rebuild.
    [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], ROOT));
    npm(
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--offline',
        '--no-audit',
        '--no-fund',
        join(dir, packed.filename),
      ],
      dir,
    );
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds exactly the bundle (with the packages it loads apart, and the console page), its launcher, package.json, README and LICENSE, and needs no other package', () => {
    expect(packed.files.map((f) => f.path).sort()).toEqual([
      'LICENSE',
      'README.md',
      'build/console-assets.json',
      'build/egg.cjs',
      'build/vendor.cjs',
      'cli/bin/egg.js',
      'package.json',
    ]);
    const pkg = JSON.parse(
      readFileSync(join(prefix, 'lib', 'node_modules', 'eggcarton', 'package.json'), 'utf8'),
    );
    expect(pkg.private).toBeUndefined();
    expect(pkg.license).toBe('Apache-2.0');
    expect(pkg.dependencies).toBeUndefined();
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toContain(
      'Apache License\n                           Version 2.0, January 2004',
    );
  });

  it('installed into an empty prefix, runs the README tour', () => {
    expectTourRan(runTour([join(prefix, 'bin'), dirname(process.execPath), ...SYSTEM_PATH]));
  });

  it('answers as `eggcarton` too, the name `npx eggcarton` runs', () => {
    const result = spawnSync(join(prefix, 'bin', 'eggcarton'), ['secrets', '--help'], {
      encoding: 'utf8',
      env: { PATH: [dirname(process.execPath), ...SYSTEM_PATH].join(':') },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/secrets pull +Print secrets as dotenv/);
    expect(result.status).toBe(0);
  });

  it('on a Node older than 22.13, says in one sentence where the binary that needs none is', (context) => {
    // The machine's own Node, when it is older (CI images and this one have Node 20).
    const old = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
      const version = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
      const [major = 99, minor = 0] = version.slice(1).split('.').map(Number);
      return major < 22 || (major === 22 && minor < 13);
    });
    if (old === undefined) return context.skip('no Node older than 22.13 on this machine');
    const version = spawnSync(old, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const result = spawnSync(
      old,
      [join(prefix, 'lib', 'node_modules', 'eggcarton', 'cli', 'bin', 'egg.js'), 'secrets', 'list'],
      {
        encoding: 'utf8',
      },
    );
    expect(result.stderr).toBe(
      `Error: egg needs Node 22.13 or later (this is Node ${version.slice(1)}); or download the standalone binary, which needs no Node, from https://github.com/eggcarton/action/releases/latest.\n`,
    );
    expect(result.stdout).toBe('');
    expect(result.status).toBe(1);
  });

  it('runs the README tour on Node 22', (context) => {
    const node = node22();
    if (node === undefined) return context.skip('node@22 could not be installed from the npm registry');
    expectTourRan(runTour([join(prefix, 'bin'), dirname(node), ...SYSTEM_PATH]));
  });
});
