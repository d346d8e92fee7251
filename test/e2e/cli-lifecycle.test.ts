/**
 * Issue 12, items 2 and 3, end to end through the built CLI on both backends (SQLite, and
 * DynamoDB Local + moto's KMS): `egg secrets import` in every format with `--dry-run`, all
 * or nothing, one audit record; `egg namespaces`; a mistyped namespace or secret name fails
 * with "did you mean"; and (item 7) a binary value left out of the text formats with a
 * warning, refused with --strict, and carried by json as base64 that import reads back. The
 * canary is never in any output it was not asked for, nor stored.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findLeaks } from '../support/cli.js';
import { CliSession } from '../support/cli-session.js';
import { formatReaders } from '../support/format-readers.js';

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

describe.each(backends)('binary values in pull, run and import ($backend)', ({ backend }) => {
  const session = new CliSession(backend);
  const { outputs } = session;
  const run = session.run.bind(session);
  const quiet = session.quiet.bind(session);
  /** Not UTF-8, with NUL and the canary inside. */
  const BIN = Buffer.concat([
    Buffer.from([0xff, 0xfe, 0x00, 0x80]),
    Buffer.from(CANARY),
    Buffer.from([0x0a, 0xc3]),
  ]);
  /** UTF-8, but with a NUL no environment variable can carry. */
  const NULTXT = Buffer.from(`nul\0${CANARY}`);
  const instead = (name: string) =>
    `use --format json, or write it raw with \`egg secrets get ${name} > FILE\``;
  const warned: Record<string, string> = {
    dotenv:
      `Warning: BIN is not valid UTF-8, which a dotenv file cannot carry, so it was left out of the dotenv output; ${instead('BIN')}.\n` +
      `Warning: NULTXT contains a NUL byte, which an environment variable cannot carry, so it was left out of the dotenv output; ${instead('NULTXT')}.\n`,
    shell:
      `Warning: BIN contains a NUL byte, which a shell variable cannot carry, so it was left out of the shell output; ${instead('BIN')}.\n` +
      `Warning: NULTXT contains a NUL byte, which a shell variable cannot carry, so it was left out of the shell output; ${instead('NULTXT')}.\n`,
    docker:
      `Warning: BIN is not valid UTF-8, which docker --env-file refuses, so it was left out of the docker output; ${instead('BIN')}.\n` +
      `Warning: NULTXT contains a NUL byte, which an environment variable cannot carry, so it was left out of the docker output; ${instead('NULTXT')}.\n`,
  };

  beforeAll(async () => {
    expect((await session.start('bin', 'acme/bin')).code).toBe(0);
    writeFileSync(join(session.base, 'bin.dat'), BIN);
    writeFileSync(join(session.base, 'nul.dat'), NULTXT);
    expect(quiet(['secrets', 'set', 'BIN', '--from-file', 'bin.dat']).code).toBe(0);
    expect(quiet(['secrets', 'set', 'NULTXT', '--from-file', 'nul.dat']).code).toBe(0);
    expect(quiet(['secrets', 'set', 'TEXT'], 'plain').code).toBe(0);
  });
  afterAll(() => session.close());

  it('stores --from-file bytes exactly, and get writes them raw to stdout', () => {
    expect(run(['secrets', 'get', 'BIN']).stdoutBytes).toEqual(BIN);
    expect(run(['secrets', 'get', 'NULTXT']).stdoutBytes).toEqual(NULTXT);
  });

  it('leaves a value dotenv, shell or docker cannot carry out, with a warning naming it, and writes the rest', () => {
    const read = formatReaders(session.base);
    for (const format of ['dotenv', 'shell', 'docker'] as const) {
      const result = quiet(['secrets', 'pull', '--format', format]);
      expect({ format, code: result.code, stderr: result.stderr }).toEqual({
        format,
        code: 0,
        stderr: warned[format],
      });
      expect(read[format](result.stdoutBytes)).toEqual(new Map([['TEXT', Buffer.from('plain')]]));
    }
    expect(quiet(['secrets', 'pull', '--out', 'out.env'])).toMatchObject({
      code: 0,
      stderr: `${warned.dotenv}Wrote 1 secrets to out.env (mode 0600).\n`,
    });
  });

  it('refuses the pull with --strict in one sentence, printing nothing', () => {
    expect(quiet(['secrets', 'pull', '--strict'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `Error: BIN is not valid UTF-8, which a dotenv file cannot carry; ${instead('BIN')}.\n`,
    });
    expect(quiet(['secrets', 'pull', '--strict', '--format', 'shell', 'TEXT', 'NULTXT'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `Error: NULTXT contains a NUL byte, which a shell variable cannot carry; ${instead('NULTXT')}.\n`,
    });
  });

  it('carries it in --format json as {"base64": …}, which import reads back to the exact bytes', () => {
    const pulled = run(['secrets', 'pull', '--format', 'json', '--strict']);
    expect(pulled).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(pulled.stdout)).toEqual({
      BIN: { base64: BIN.toString('base64') },
      NULTXT: NULTXT.toString(),
      TEXT: 'plain',
    });
    expect(quiet(['secrets', 'import', '-', '-n', 'acme/bin-copy'], pulled.stdoutBytes)).toMatchObject({
      code: 0,
      stdout:
        'Imported 3 secrets (json) into acme/bin-copy:\n  add: BIN, NULTXT, TEXT\n  change: -\n  leave alone: -\n',
    });
    expect(run(['secrets', 'get', 'BIN', '-n', 'acme/bin-copy']).stdoutBytes).toEqual(BIN);
    expect(run(['secrets', 'get', 'NULTXT', '-n', 'acme/bin-copy']).stdoutBytes).toEqual(NULTXT);
    expect(quiet(['secrets', 'import', '-'], pulled.stdoutBytes).stdout).toContain(
      '  add: -\n  change: -\n  leave alone: BIN, NULTXT, TEXT\n',
    );
  });

  it("leaves it out of egg run's environment with the same warning", () => {
    const result = quiet([
      'run',
      '--',
      'sh',
      '-c',
      'test -z "${BIN+x}" && test -z "${NULTXT+x}" && test -n "$TEXT"',
    ]);
    expect(result).toMatchObject({
      code: 0,
      stderr:
        "Warning: BIN is not UTF-8 text without NUL bytes, so it was left out of the command's environment.\n" +
        "Warning: NULTXT is not UTF-8 text without NUL bytes, so it was left out of the command's environment.\n",
    });
  });

  it('never shows the canary where it was not asked for, nor in the audit trail, nor stored in plain text', async () => {
    quiet(['audit', '--json']);
    quiet(['audit', '--json', '-n', 'acme/bin-copy']);
    expect(outputs.length).toBeGreaterThan(15);
    for (const output of outputs) expect(findLeaks(output, CANARY)).toEqual([]);
    expect((await session.storedLeaks(CANARY)).leaks).toEqual([]);
  });
});
