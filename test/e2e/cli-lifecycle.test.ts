/**
 * Issue 12, items 2 and 3, end to end through the built CLI on both backends (SQLite, and
 * DynamoDB Local + moto's KMS): `egg secrets import` in every format with `--dry-run`, all
 * or nothing, one audit record; `egg namespaces`; a mistyped namespace or secret name fails
 * with "did you mean". The canary is never in any output it was not asked for, nor stored.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findLeaks } from '../support/cli.js';
import { CliSession } from '../support/cli-session.js';

const CANARY = 'lifecycle-canary-5d2e81c0-DO-NOT-LEAK';

const backends = [
  { backend: 'local' as const },
  ...(inject('aws') === null ? [] : [{ backend: 'aws' as const }]),
];

describe.each(backends)('egg secrets import and namespaces ($backend)', ({ backend }) => {
  const session = new CliSession(backend);
  const { outputs } = session;
  const run = session.run.bind(session);
  const quiet = session.quiet.bind(session);
  let base: string;

  beforeAll(async () => {
    expect((await session.start('lc', 'acme/api')).code).toBe(0);
    base = session.base;
    writeFileSync(join(base, '.env'), `CANARY='${CANARY}'\nDB_URL='postgres://db/app'\nMULTI="one\\ntwo"\n`);
  });
  afterAll(() => session.close());

  it('shows what an import would do, names only, and writes nothing', () => {
    const result = quiet(['secrets', 'import', '.env', '--dry-run']);
    expect(result).toMatchObject({
      code: 0,
      stdout:
        'Would import 3 secrets (dotenv) into acme/api:\n  add: CANARY, DB_URL, MULTI\n  change: -\n  leave alone: -\n',
    });
    expect(quiet(['secrets', 'list', '--json']).stdout.trim()).toBe('[]');
  });

  it('imports every secret in one command, each readable exactly', () => {
    expect(quiet(['secrets', 'import', '.env'])).toMatchObject({
      code: 0,
      stdout:
        'Imported 3 secrets (dotenv) into acme/api:\n  add: CANARY, DB_URL, MULTI\n  change: -\n  leave alone: -\n',
    });
    expect(JSON.parse(run(['secrets', 'pull', '--format', 'json']).stdout)).toEqual({
      CANARY,
      DB_URL: 'postgres://db/app',
      MULTI: 'one\ntwo',
    });
    const list = JSON.parse(quiet(['secrets', 'list', '--json']).stdout) as { name: string; rev: number }[];
    expect(list.map((s) => [s.name, s.rev])).toEqual([
      ['CANARY', 1],
      ['DB_URL', 1],
      ['MULTI', 1],
    ]);
  });

  it('reads back what pull writes, in every format, as nothing to change', () => {
    for (const format of ['dotenv', 'json', 'docker']) {
      const names = format === 'docker' ? ['CANARY', 'DB_URL'] : [];
      const pulled = run(['secrets', 'pull', '--format', format, ...names]);
      expect(pulled.code).toBe(0);
      const result = quiet(['secrets', 'import', '-', '--format', format], pulled.stdout);
      expect(result.stdout).toContain(
        `  add: -\n  change: -\n  leave alone: CANARY, DB_URL${format === 'docker' ? '' : ', MULTI'}\n`,
      );
      // Detected too, into another namespace (these docker lines read the same as dotenv).
      const copy = quiet(['secrets', 'import', '-', '-n', `acme/${format}`], pulled.stdout);
      expect(copy.stdout.split('\n')[0]).toBe(
        `Imported ${names.length || 3} secrets (${format === 'docker' ? 'dotenv' : format}) into acme/${format}:`,
      );
      expect(JSON.parse(run(['secrets', 'pull', '--json', '-n', `acme/${format}`]).stdout)).toMatchObject({
        CANARY,
        DB_URL: 'postgres://db/app',
      });
    }
  });

  it('reports a changed value, and records one audit entry per import naming secrets, never values', () => {
    writeFileSync(
      join(base, 'next.json'),
      JSON.stringify({ CANARY, DB_URL: 'postgres://db/next', NEW_ONE: 'n' }),
    );
    expect(quiet(['secrets', 'import', 'next.json']).stdout).toBe(
      'Imported 3 secrets (json) into acme/api:\n  add: NEW_ONE\n  change: DB_URL\n  leave alone: CANARY\n',
    );
    const records = JSON.parse(quiet(['audit', '--json']).stdout) as { action: string; targets: string[] }[];
    const imports = records.filter((r) => r.action === 'import');
    expect(imports.at(-1)?.targets).toEqual(['CANARY', 'DB_URL', 'NEW_ONE']);
    expect(imports.length).toBe(5);
  });

  it('applies nothing when one entry is refused', () => {
    writeFileSync(join(base, 'bad.env'), `DB_URL='changed'\n1BAD='x'\n`);
    const result = quiet(['secrets', 'import', 'bad.env', '--format', 'dotenv']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Error: invalid secret name "1BAD"/);
    expect(run(['secrets', 'get', 'DB_URL']).stdout).toBe('postgres://db/next');
  });

  it('fails on a mistyped namespace with the closest one, and on a mistyped secret name too', () => {
    for (const args of [
      ['secrets', 'pull', '-n', 'acme/apj'],
      ['run', '-n', 'acme/apj', '--', 'true'],
      ['secrets', 'get', 'DB_URL', '-n', 'acme/apj'],
    ]) {
      const result = quiet(args);
      expect(result).toMatchObject({
        code: 1,
        stderr: 'Error: namespace acme/apj does not exist (did you mean acme/api?).\n',
      });
    }
    expect(quiet(['secrets', 'get', 'DB_ULR'])).toMatchObject({
      code: 1,
      stderr: 'Error: secret not found in acme/api: DB_ULR (did you mean DB_URL?).\n',
    });
  });

  it('lists namespaces with counts, and keeps one that was emptied', () => {
    expect(quiet(['secrets', 'rm', 'CANARY', 'DB_URL', '-n', 'acme/docker']).code).toBe(0);
    expect(JSON.parse(quiet(['namespaces', '--json']).stdout)).toEqual([
      { namespace: 'acme/api', secrets: 4 },
      { namespace: 'acme/docker', secrets: 0 },
      { namespace: 'acme/dotenv', secrets: 3 },
      { namespace: 'acme/json', secrets: 3 },
    ]);
    expect(quiet(['secrets', 'pull', '-n', 'acme/docker'])).toMatchObject({ code: 0, stdout: '' });
  });

  it('never shows the canary where it was not asked for, nor stores it in plain text', async () => {
    expect(outputs.length).toBeGreaterThan(20);
    for (const output of outputs) expect(findLeaks(output, CANARY)).toEqual([]);
    expect((await session.storedLeaks(CANARY)).leaks).toEqual([]);
  });
});
