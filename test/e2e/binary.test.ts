/**
 * The standalone binary (`npm run binary`, a Node single executable application) on a
 * machine without Node: the README's tour with a PATH that holds the binary and `sh`, and
 * no `node` anywhere.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTourRan, runTour } from '../support/tour.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BINARY = join(ROOT, 'build', `egg-${process.platform}-${process.arch}`);
const BUNDLE = join(ROOT, 'build', 'egg.cjs');

/** Build the binary unless one newer than the bundle (which `npm test` rebuilds) is there. */
function ensureBinary(): void {
  const stale = (() => {
    try {
      return statSync(BINARY).mtimeMs < statSync(BUNDLE).mtimeMs;
    } catch {
      return true;
    }
  })();
  if (!stale) return;
  const result = spawnSync(process.execPath, ['scripts/binary.js'], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`scripts/binary.js failed: ${result.stdout}${result.stderr}`);
}

describe.runIf(process.platform === 'linux')('the standalone binary', () => {
  let dir: string;
  let path: string[];

  beforeAll(() => {
    ensureBinary();
    dir = mkdtempSync(join(tmpdir(), 'egg-binary-'));
    // A PATH of two directories: `egg` (the binary) and `sh` (which the tour's `egg run` starts).
    const bin = join(dir, 'bin');
    const tools = join(dir, 'tools');
    mkdirSync(bin);
    mkdirSync(tools);
    symlinkSync(BINARY, join(bin, 'egg'));
    symlinkSync('/bin/sh', join(tools, 'sh'));
    path = [bin, tools];
  }, 300_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds no node on the PATH it is given', () => {
    const result = spawnSync('/bin/sh', ['-c', 'command -v node'], { env: { PATH: path.join(':') } });
    expect(result.status).not.toBe(0);
  });

  it('runs the README tour (init, set, list, get, pull, run, audit, rotate, trust) with no node on the PATH', () => {
    expectTourRan(runTour(path));
  });

  it('reports its own version and the Node inside it', () => {
    const result = spawnSync(BINARY, ['--version'], { encoding: 'utf8', env: { PATH: path.join(':') } });
    expect(result.stdout).toBe(`eggcarton/0.1.0 linux-${process.arch} node-${process.version}\n`);
  });
});
