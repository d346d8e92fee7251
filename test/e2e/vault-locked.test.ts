/**
 * A vault another process keeps locked: `egg secrets set` waits SQLite's busy timeout
 * (10 s), then names the file and a way out instead of "database is locked" (issue 12,
 * item 6), exits 1, and has stored nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { egg } from '../support/cli.js';

describe('a vault locked by another process', () => {
  const base = mkdtempSync(join(tmpdir(), 'egg-locked-'));
  const env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web', VALUE: 'locked-out-value' };
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('refuses with the file and who may hold it, not a raw SQLite error, and stores nothing', () => {
    expect(egg(['init'], { env, cwd: base }).code).toBe(0);
    const vault = join(base, 'home', 'vault.db');
    const holder = new DatabaseSync(vault);
    holder.exec('BEGIN EXCLUSIVE');
    let result: ReturnType<typeof egg>;
    try {
      result = egg(['secrets', 'set', 'LOCKED', '--from-env', 'VALUE'], { env, cwd: base });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: ${vault} stayed locked by another process for longer than egg waits (another egg (egg rotate --follow, egg proxy serve) or a database tool holds it; retry, or see who has it open with \`fuser -v ${vault}\`).\n`,
    );
    expect(egg(['secrets', 'list', '--json'], { env, cwd: base }).stdout).toBe('[]\n');
  }, 60_000);
});
