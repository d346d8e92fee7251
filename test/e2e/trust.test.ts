/**
 * The built CLI and `.egg.json` (issue 9, item 11): read only from the current directory or
 * the repository root, never hanging on a FIFO, and its routing settings only after `egg trust`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGG_BIN, egg } from '../support/cli.js';

describe('egg and .egg.json', () => {
  let base: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  const inRepo = (args: string[], input?: string) =>
    egg(args, { env, cwd: repo, ...(input === undefined ? {} : { input }) });
  const names = (namespace: string) => {
    const listed = inRepo(['secrets', 'list', '--json', '-n', namespace]);
    expect(listed.code).toBe(0);
    return (JSON.parse(listed.stdout) as { name: string }[]).map((s) => s.name);
  };

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-trust-'));
    repo = join(base, 'outer', 'repo');
    mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(join(repo, 'src'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: '' };
    expect(inRepo(['init']).code).toBe(0);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('a world-writable .egg.json two levels above the repository cannot redirect `secrets set`', () => {
    const planted = join(base, '.egg.json');
    writeFileSync(planted, '{"namespace": "attacker/ns"}\n');
    chmodSync(planted, 0o666);
    const set = inRepo(['secrets', 'set', 'API_KEY'], 'value-1');
    rmSync(planted);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(names('attacker/ns')).toEqual([]);
    expect(names('default')).toEqual(['API_KEY']);
  });

  it('refuses a FIFO named .egg.json instead of hanging', () => {
    const fifo = join(repo, '.egg.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    try {
      // The timeout only keeps a regression from hanging the suite; the assertion is the refusal.
      const result = spawnSync(process.execPath, [EGG_BIN, 'secrets', 'list'], {
        env: { ...process.env, ...env },
        cwd: join(repo, 'src'),
        input: '',
        timeout: 30_000,
      });
      expect({ code: result.status, stderr: result.stderr.toString() }).toEqual({
        code: 1,
        stderr: `Error: ${fifo} is a FIFO, not a regular file; refusing to read settings from it (remove it, or replace it with a regular file).\n`,
      });
    } finally {
      rmSync(fifo);
    }
  });

  it('refuses routing settings until `egg trust`, shows what it trusts, and refuses them again once edited', () => {
    const file = join(repo, '.egg.json');
    writeFileSync(file, '{"namespace": "acme/web", "oidcScopes": "openid email"}\n');
    const refused = inRepo(['secrets', 'set', 'DB_URL'], 'postgres://x');
    expect(refused).toMatchObject({
      code: 1,
      stderr: `Error: ${file} sets namespace, which egg takes only from a file you trust (check it, then run \`egg trust\`).\n`,
    });

    const digest = (JSON.parse(inRepo(['trust', '--show', '--json']).stdout) as { sha256: string }).sha256;
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(inRepo(['trust', '--show'])).toMatchObject({
      code: 0,
      stdout: [
        `${file}: not trusted (sha256 ${digest})`,
        'Settings that need `egg trust` (where secrets go or come from):',
        '  namespace: acme/web',
        'Other settings:',
        '  oidcScopes: openid email',
        '',
      ].join('\n'),
    });
    const trusted = egg(['trust'], { env, cwd: join(repo, 'src') });
    expect(trusted).toMatchObject({
      code: 0,
      stdout: [
        `Trusted ${file} (sha256 ${digest}).`,
        'Settings that need `egg trust` (where secrets go or come from):',
        '  namespace: acme/web',
        'Other settings:',
        '  oidcScopes: openid email',
        'Edit the file and it needs `egg trust` again.',
        '',
      ].join('\n'),
    });
    expect(inRepo(['secrets', 'set', 'DB_URL'], 'postgres://x').code).toBe(0);
    expect(names('acme/web')).toEqual(['DB_URL']);

    writeFileSync(file, '{"namespace": "attacker/ns"}\n');
    expect(inRepo(['secrets', 'set', 'DB_URL'], 'postgres://y')).toMatchObject({
      code: 1,
      stderr: `Error: ${file} changed since you trusted it, and it sets namespace (check it, then run \`egg trust\` again).\n`,
    });
    expect(JSON.parse(inRepo(['trust', '--show', '--json']).stdout)).toMatchObject({
      path: file,
      status: 'changed',
      routing: { namespace: 'attacker/ns' },
      other: {},
    });
    expect(names('attacker/ns')).toEqual([]);
  });

  it('revokes trust with --revoke', () => {
    const file = join(repo, '.egg.json');
    writeFileSync(file, '{"namespace": "acme/web"}\n');
    expect(inRepo(['trust', '--json']).code).toBe(0);
    expect(inRepo(['trust', '--revoke'])).toMatchObject({ code: 0, stdout: `No longer trusting ${file}.\n` });
    expect(JSON.parse(inRepo(['trust', '--revoke', '--json']).stdout)).toEqual({
      path: file,
      revoked: false,
    });
    expect(inRepo(['secrets', 'list']).code).toBe(1);
    const records = JSON.parse(readFileSync(join(base, 'home', 'trusted.json'), 'utf8')) as {
      files: Record<string, unknown>;
    };
    expect(Object.keys(records.files)).toEqual([]);
    rmSync(file);
  });

  it('says there is nothing to trust where there is no .egg.json', () => {
    expect(egg(['trust'], { env, cwd: base })).toMatchObject({
      code: 2,
      stderr: `Error: there is no .egg.json in ${base} or at the root of its repository (egg reads .egg.json only from the current directory or the repository root).\n`,
    });
  });
});
