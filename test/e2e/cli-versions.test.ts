/**
 * Issue 12, item 1, end to end through the built CLI on both backends (SQLite, and DynamoDB
 * Local + moto's KMS): `egg secrets history`, `get --rev`, `rollback --to`, `keep`, and `rm`
 * of every version. The canary is never in any output it was not asked for, in the audit
 * trail, nor stored in plain text.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { Vault } from '../../src/vault/vault.js';
import { findLeaks } from '../support/cli.js';
import { CliSession } from '../support/cli-session.js';

const CANARY = 'versions-canary-8f41c2d7-DO-NOT-LEAK';

const backends = [
  { backend: 'local' as const },
  ...(inject('aws') === null ? [] : [{ backend: 'aws' as const }]),
];

describe('reads of an expired secret (local)', () => {
  const session = new CliSession('local');
  beforeAll(async () => {
    expect((await session.start('expired', 'acme/api')).code).toBe(0);
    // The CLI refuses an expiry in the past, so the test writes one through the vault.
    const backend = openLocalBackend(session.env.EGG_HOME as string);
    try {
      const vault = new Vault({ ...backend, namespace: 'acme/api', actor: 'test' });
      await vault.set('OLD_TOKEN', Buffer.from(CANARY), { expires: '2020-01-01T00:00:00.000Z' });
      await vault.set('FRESH', Buffer.from('fresh'));
    } finally {
      await backend.close();
    }
  });
  afterAll(() => session.close());

  it('warns on stderr and still reads, in get, pull and run', () => {
    const warning =
      /^Warning: OLD_TOKEN expired \d+ days ago \(2020-01-01T00:00:00.000Z\); set a new value with `egg secrets set OLD_TOKEN --expires …`\n$/;
    const get = session.run(['secrets', 'get', 'OLD_TOKEN']);
    expect(get).toMatchObject({ code: 0, stdout: CANARY });
    expect(get.stderr).toMatch(warning);
    const pull = session.run(['secrets', 'pull', '--format', 'json']);
    expect(pull.code).toBe(0);
    expect(pull.stderr).toMatch(warning);
    const run = session.quiet([
      'run',
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(String(process.env.FRESH.length))',
    ]);
    expect(run).toMatchObject({ code: 0, stdout: '5' });
    expect(run.stderr).toMatch(warning);
  });

  it('fails with --strict, printing no value', () => {
    for (const args of [
      ['secrets', 'get', 'OLD_TOKEN', '--strict'],
      ['secrets', 'pull', '--strict'],
      ['run', '--strict', '--', process.execPath, '-e', 'process.stdout.write("ran")'],
    ]) {
      const result = session.quiet(args);
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toContain('secret expired: OLD_TOKEN; --strict refuses to read it');
    }
    expect(session.quiet(['secrets', 'get', 'FRESH', '--strict'])).toMatchObject({
      code: 0,
      stdout: 'fresh',
    });
    for (const output of session.outputs) expect(findLeaks(output, CANARY)).toEqual([]);
  });
});

describe.each(backends)('egg secrets history, get --rev, rollback and keep ($backend)', ({ backend }) => {
  const session = new CliSession(backend);
  const run = session.run.bind(session);
  const quiet = session.quiet.bind(session);

  beforeAll(async () => {
    expect((await session.start('versions', 'acme/api')).code).toBe(0);
    expect(quiet(['secrets', 'set', 'DB_PASSWORD'], 'first').code).toBe(0);
    expect(quiet(['secrets', 'set', 'DB_PASSWORD'], CANARY).code).toBe(0);
    expect(quiet(['secrets', 'set', 'DB_PASSWORD'], 'third').code).toBe(0);
  });
  afterAll(() => session.close());

  it('lists the versions with rev, time, actor and size, never a value', () => {
    const human = quiet(['secrets', 'history', 'DB_PASSWORD']);
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REV +TIME +ACTOR +SIZE$/);
    expect(lines.slice(1).map((line) => line.split(/ +/).filter((cell) => !cell.includes(':')))).toEqual([
      ['3', '5', 'B', 'current'],
      ['2', String(CANARY.length), 'B'],
      ['1', '5', 'B'],
    ]);
    const json = JSON.parse(quiet(['secrets', 'history', 'DB_PASSWORD', '--json']).stdout) as {
      versions: { rev: number; size: number; actor: string; current: boolean }[];
    };
    expect(json.versions.map(({ rev, size, current }) => ({ rev, size, current }))).toEqual([
      { rev: 3, size: 5, current: true },
      { rev: 2, size: CANARY.length, current: false },
      { rev: 1, size: 5, current: false },
    ]);
    // Who set each one: the OS user on local, the caller's identity on aws; never unknown.
    const [actor] = json.versions.map((v) => v.actor);
    expect(actor).toMatch(/^(user:|uid:|arn:)/);
    expect(json.versions.map((v) => v.actor)).toEqual([actor, actor, actor]);
  });

  it('reads an earlier version with --rev, and says which revs exist when one does not', () => {
    expect(run(['secrets', 'get', 'DB_PASSWORD', '--rev', '2'])).toMatchObject({ code: 0, stdout: CANARY });
    expect(quiet(['secrets', 'get', 'DB_PASSWORD', '--rev', '1'])).toMatchObject({
      code: 0,
      stdout: 'first',
    });
    const missing = quiet(['secrets', 'get', 'DB_PASSWORD', '--rev', '9']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('DB_PASSWORD has no rev 9 in acme/api');
    expect(missing.stderr).toContain('egg secrets history DB_PASSWORD');
  });

  it('rolls back to an earlier version as a new rev, audited', () => {
    expect(quiet(['secrets', 'rollback', 'DB_PASSWORD', '--to', '1'])).toMatchObject({
      code: 0,
      stdout: 'Rolled DB_PASSWORD in acme/api back to rev 1, as rev 4.\n',
    });
    expect(quiet(['secrets', 'get', 'DB_PASSWORD'])).toMatchObject({ code: 0, stdout: 'first' });
    const records = JSON.parse(quiet(['audit', '--json']).stdout) as { action: string; targets: string[] }[];
    expect(records.filter((r) => r.action === 'rollback').map((r) => r.targets)).toEqual([['DB_PASSWORD@1']]);
    expect(records.filter((r) => r.action === 'read').map((r) => r.targets)).toContainEqual([
      'DB_PASSWORD@2',
    ]);
  });

  it('keeps what the namespace says, and deletes the rest at the next set', () => {
    expect(quiet(['secrets', 'keep'])).toMatchObject({
      code: 0,
      stdout: 'acme/api keeps 10 earlier versions of each secret.\n',
    });
    expect(quiet(['secrets', 'keep', '1'])).toMatchObject({
      code: 0,
      stdout: 'acme/api keeps 1 earlier version of each secret.\n',
    });
    expect(quiet(['secrets', 'keep', '51']).code).toBe(2);
    expect(quiet(['secrets', 'set', 'DB_PASSWORD'], 'fifth').code).toBe(0);
    const json = JSON.parse(quiet(['secrets', 'history', 'DB_PASSWORD', '--json']).stdout) as {
      versions: { rev: number }[];
    };
    expect(json.versions.map((v) => v.rev)).toEqual([5, 4]);
  });

  it('removes every version with the secret', () => {
    expect(quiet(['secrets', 'set', 'GONE'], CANARY).code).toBe(0);
    expect(quiet(['secrets', 'set', 'GONE'], 'later').code).toBe(0);
    expect(quiet(['secrets', 'rm', 'GONE']).code).toBe(0);
    expect(quiet(['secrets', 'history', 'GONE']).code).not.toBe(0);
    expect(quiet(['secrets', 'set', 'GONE'], 'again').code).toBe(0);
    const json = JSON.parse(quiet(['secrets', 'history', 'GONE', '--json']).stdout) as {
      versions: { rev: number }[];
    };
    expect(json.versions.map((v) => v.rev)).toEqual([1]);
  });

  it('stores an expiry with --expires, and lists what expires soon', () => {
    const set = quiet(['secrets', 'set', 'LEASE', '--expires', '2d'], 'leased');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^Set LEASE in acme\/api \(rev 1, expires \d{4}-\d\d-\d\dT[\d:.]+Z\)\.\n$/);
    const list = quiet(['secrets', 'list']);
    expect(list.stdout.split('\n')[0]).toMatch(/ EXPIRES$/);
    expect(list.stdout).toMatch(/\nLEASE .* \(expires in 47 hours\)\n/);
    expect(list.stderr).toBe('1 expired or expiring within 14 days: LEASE\n');
    expect(quiet(['secrets', 'get', 'LEASE', '--strict'])).toMatchObject({
      code: 0,
      stdout: 'leased',
      stderr: '',
    });
    const refused = quiet(['secrets', 'set', 'LEASE', '--expires', '2020-01-01'], 'x');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--expires 2020-01-01 is not in the future');
  });

  it('never shows the canary where it was not asked for, nor stores it in plain text', async () => {
    expect(session.outputs.length).toBeGreaterThan(20);
    for (const output of session.outputs) expect(findLeaks(output, CANARY)).toEqual([]);
    const { leaks, keys } = await session.storedLeaks(CANARY);
    expect(leaks).toEqual([]);
    if (backend === 'aws')
      expect(keys.filter((key) => key.startsWith('V#'))).toContain('V#DB_PASSWORD#000000000004');
  });
});
