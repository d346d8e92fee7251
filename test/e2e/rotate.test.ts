/**
 * `egg rotate` as a user runs it on the embedded default: a one-shot pass, and `--follow`
 * as the rotator for readers configured with `rotation: deferred`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';

const CANARY = 'egg-canary-rotate-5d1e2b-DO-NOT-LEAK';

describe('egg rotate', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  const outputs: string[] = [];
  const run = (args: string[], input?: string, extra: NodeJS.ProcessEnv = {}) => {
    const result = egg(args, {
      env: { ...env, ...extra },
      cwd: base,
      ...(input === undefined ? {} : { input }),
    });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const gens = () =>
    Object.fromEntries(
      (JSON.parse(run(['secrets', 'list', '--json']).stdout) as { name: string; gen: number }[]).map((s) => [
        s.name,
        s.gen,
      ]),
    );

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-rotate-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
    expect(run(['init']).code).toBe(0);
    for (const [name, value] of [
      ['API_KEY', CANARY],
      ['DB_URL', 'postgres://x'],
      ['OTHER', 'y'],
    ] as const)
      expect(run(['secrets', 'set', name], value).code).toBe(0);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('rotates every secret once, or the named ones, and says so', () => {
    expect(gens()).toEqual({ API_KEY: 1, DB_URL: 1, OTHER: 1 });
    const all = run(['rotate']);
    // 3 sets and a list (gens), then the rotate record (5), which the pass anchors.
    expect(all).toMatchObject({
      code: 0,
      stdout: 'Rotated 3 secrets in acme/web.\nAnchored the audit trail of acme/web at record 5.\n',
    });
    const one = run(['rotate', '--name', 'DB_URL', '--json']);
    expect(JSON.parse(one.stdout)).toEqual({
      namespace: 'acme/web',
      rotated: 1,
      skipped: 0,
      failed: 0,
      deferred: 0,
      anchored: 6,
    });
    expect(gens()).toEqual({ API_KEY: 2, DB_URL: 3, OTHER: 2 });
    expect(run(['rotate', '--name', 'bad-name']).code).toBe(2);
  });

  it('--follow rotates what deferred readers read, and stops cleanly on SIGTERM', async () => {
    const before = gens();
    const child = spawn(process.execPath, [EGG_BIN, 'rotate', '--follow', '--interval', '50', '--json'], {
      env: { ...process.env, ...env },
      cwd: base,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    type Pass = { reason: string; names: string[]; counts: { rotated: number } };
    const lines = createInterface({ input: child.stdout });
    const next = () =>
      new Promise<Pass>((resolve, reject) => {
        lines.once('line', (line) => resolve(JSON.parse(line) as Pass));
        child.once('exit', (code) => reject(new Error(`egg rotate exited ${code}: ${stderr}`)));
      });
    try {
      const startup = await next();
      expect(startup).toMatchObject({ reason: 'startup', counts: { rotated: 3 } });
      const afterStartup = gens();
      expect(afterStartup).toEqual({
        API_KEY: (before.API_KEY ?? 0) + 1,
        DB_URL: (before.DB_URL ?? 0) + 1,
        OTHER: (before.OTHER ?? 0) + 1,
      });

      // A deferred reader gets the value and leaves the item alone; the follower rotates it.
      const read = run(['secrets', 'get', 'API_KEY'], undefined, { EGG_ROTATION: 'deferred' });
      expect(read.stdout).toBe(CANARY);
      outputs.pop();
      outputs.pop();
      const pass = await next();
      expect(pass).toMatchObject({ reason: 'reads', names: ['API_KEY'], counts: { rotated: 1 } });
      expect(gens()).toEqual({ ...afterStartup, API_KEY: (afterStartup.API_KEY ?? 0) + 1 });
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    outputs.push(stderr);
    // The follower anchored everything up to its stop: it signs a last checkpoint on SIGTERM.
    const verify = run(['audit', 'verify', '--json']);
    expect(verify.code).toBe(0);
    const verdict = JSON.parse(verify.stdout) as { records: number; anchor: { seq: number } | null };
    expect(verdict.anchor?.seq).toBe(verdict.records);
    expect(stderr).toContain('"event":"rotate.anchored"');
  });

  it('never prints a value', () => {
    for (const output of outputs) expect(findLeaks(output, CANARY)).toEqual([]);
  });
});
