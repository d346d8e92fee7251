/**
 * Issue 12, items 2 and 3, end to end through the built CLI on both backends (SQLite, and
 * DynamoDB Local + moto's KMS): `egg secrets import` in every format with `--dry-run`, all
 * or nothing, one audit record; `egg namespaces`; a mistyped namespace or secret name fails
 * with "did you mean". The canary is never in any output it was not asked for, nor stored.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDynamoDbClient } from '../../src/aws/clients.js';
import { createTestKmsKey, useTestAws } from '../support/aws.js';
import { egg, findLeaks } from '../support/cli.js';

const CANARY = 'lifecycle-canary-5d2e81c0-DO-NOT-LEAK';

const backends = [{ backend: 'local' }, ...(inject('aws') === null ? [] : [{ backend: 'aws' }])];

describe.each(backends)('egg secrets import and namespaces ($backend)', ({ backend }) => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  let table: string | undefined;
  const outputs: string[] = [];
  const run = (args: string[], input?: string | Buffer) =>
    egg(args, { env, cwd: base, ...(input === undefined ? {} : { input }) });
  const quiet = (args: string[], input?: string | Buffer) => {
    const result = run(args, input);
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-lifecycle-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/api' };
    if (backend === 'aws') {
      useTestAws();
      table = `egg-lc-${randomBytes(4).toString('hex')}`;
      env = {
        ...env,
        EGG_BACKEND: 'aws',
        EGG_TABLE: table,
        EGG_KMS_KEY_ID: await createTestKmsKey(),
        EGG_KEYRING: 'kms-hierarchical',
      };
      expect(quiet(['init', '--create-table']).code).toBe(0);
    } else expect(quiet(['init']).code).toBe(0);
    writeFileSync(join(base, '.env'), `CANARY='${CANARY}'\nDB_URL='postgres://db/app'\nMULTI="one\\ntwo"\n`);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

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
    if (table === undefined) {
      expect(findLeaks(readFileSync(join(base, 'home', 'vault.db')), CANARY)).toEqual([]);
      return;
    }
    const client = await createDynamoDbClient();
    try {
      const { Items = [] } = await client.send(new ScanCommand({ TableName: table }));
      for (const item of Items) {
        const raw = Buffer.concat(
          Object.values(item).map((v) => (v.B ? Buffer.from(v.B) : Buffer.from(JSON.stringify(v)))),
        );
        expect(findLeaks(raw, CANARY)).toEqual([]);
      }
    } finally {
      client.destroy();
    }
  });
});
