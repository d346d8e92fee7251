/**
 * The README's short tour as a test runs it: the lines of the ```sh block under
 * "## A short tour", run by bash with `set -e` in a fresh directory holding a `cert.pem`,
 * with a given `egg` first on the PATH. The README can then never drift from the code.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The tour's shell lines, as the README has them. */
export function tourLines(): string[] {
  const text = readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('\n## A short tour\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md has no ```sh block under "## A short tour"');
  return block.split('\n').filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
}

/** A PEM-looking multi-line file, as the tour's `egg secrets set TLS_CERT < cert.pem` expects. */
export const CERT_PEM =
  '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZWdnLXRvdXI=\n-----END CERTIFICATE-----\n';

export interface TourRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The directory it ran in (its .env, errors.log, .egg.json). */
  dir: string;
}

/**
 * Run the tour with `path` as the whole PATH (its first entry holds the `egg` under test),
 * EGG_HOME in a fresh directory, and nothing of this process's EGG_* settings.
 */
export function runTour(path: string[]): TourRun {
  const dir = mkdtempSync(join(tmpdir(), 'egg-tour-'));
  const work = join(dir, 'project');
  mkdirSync(work);
  writeFileSync(join(work, 'cert.pem'), CERT_PEM);
  const env: NodeJS.ProcessEnv = { PATH: path.join(delimiter), HOME: dir, EGG_HOME: join(dir, 'egg-home') };
  for (const name of ['TMPDIR', 'LANG', 'SYSTEMROOT']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  const script = ['set -e', ...tourLines()].join('\n');
  const result = spawnSync('/bin/bash', ['-c', script], {
    cwd: work,
    env,
    // What a person types at `egg secrets set STRIPE_KEY`'s prompt; with no terminal the
    // command reads stdin instead (test/e2e/secrets-set-input.test.ts has the real prompt).
    input: 'sk_live_example',
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, dir: work };
}

/** What a tour that ran through shows: every line succeeded, values masked where promised. */
export function expectTourRan(run: TourRun): void {
  expect(run.stderr).not.toMatch(/Error|Warning/);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('NAME        REV  GEN  UPDATED\nSTRIPE_KEY  1    1');
  expect(run.stdout).toContain('key: ***\n');
  expect(readFileSync(join(run.dir, 'errors.log'), 'utf8')).toBe('***\n');
  expect(readFileSync(join(run.dir, '.env'), 'utf8')).toBe(
    `STRIPE_KEY='sk_live_example'\nTLS_CERT=${JSON.stringify(CERT_PEM)}\n`,
  );
  expect(run.stdout).toMatch(/Audit trail of default verified: \d+ records/);
  expect(run.stdout).toContain('Rotated 2 secrets in default.');
  expect(run.stdout).toContain(`Trusted ${join(run.dir, '.egg.json')}`);
}
