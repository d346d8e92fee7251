/**
 * The main and post steps' exact conversation with the runner (configure-aws-credentials
 * checks its setSecret / exportVariable / saveState / setFailed calls the same way), on
 * the local backend with a recording runner.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as runMain } from '../../src/action/main.js';
import { run as runPost } from '../../src/action/post.js';
import type { Runner } from '../../src/action/runner.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { Vault } from '../../src/vault/vault.js';

type Call = [string, ...unknown[]];

/** A runner that records every call and answers inputs and state from maps. */
function recordingRunner(inputs: Record<string, string>, state: Record<string, string> = {}) {
  const calls: Call[] = [];
  const runner: Runner = {
    getInput: (name) => inputs[name] ?? '',
    getState: (name) => state[name] ?? '',
    setSecret: (value) => calls.push(['setSecret', value]),
    exportVariable: (name, value) => calls.push(['exportVariable', name, value]),
    setOutput: (name, value) => calls.push(['setOutput', name, value]),
    saveState: (name, value) => calls.push(['saveState', name, value]),
    info: (message) => calls.push(['info', message]),
    warning: (message) => calls.push(['warning', message]),
    debug: (message) => calls.push(['debug', message]),
    isDebug: () => false,
    setFailed: (message) => calls.push(['setFailed', message]),
    appendSummary: async (markdown) => {
      calls.push(['appendSummary', markdown.split('\n')[0]]);
    },
  };
  return { runner, calls };
}

describe('main step', () => {
  let base: string;
  let home: string;
  let temp: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-action-main-'));
    home = join(base, 'home');
    temp = join(base, 'temp');
    const { store, keyring } = openLocalBackend(home, { create: true });
    const vault = new Vault({ store, keyring, namespace: 'acme/web', actor: 'test' });
    await vault.set('TOKEN', Buffer.from('tok-123'));
    await vault.set('PEM', Buffer.from('line-a\nline-b'));
    await vault.set('BINARY', Buffer.from([0xff, 0xfe, 0x00]));
    keyring.close();
    await store.close();
    mkdirSync(temp);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const env = () => ({ RUNNER_TEMP: temp, GITHUB_RUN_ID: '7', GITHUB_RUN_ATTEMPT: '1' });

  it('masks every form of every value before it exports, writes or records anything', async () => {
    const { runner, calls } = recordingRunner({
      backend: 'local',
      'egg-home': home,
      namespace: 'acme/web',
      secrets: 'TOKEN\nKEY=PEM',
      outputs: 'true',
      'dotenv-file': 'x.env',
      'mask-encodings': 'base64',
    });
    await runMain({ runner, env: env() });
    const path = join(temp, 'x.env');
    expect(calls).toEqual([
      ['saveState', 'tokens', '[]'],
      ['setSecret', 'tok-123'],
      ['setSecret', Buffer.from('tok-123').toString('base64')],
      ['setSecret', 'line-a\nline-b'],
      ['setSecret', 'line-a'],
      ['setSecret', 'line-b'],
      ['setSecret', Buffer.from('line-a\nline-b').toString('base64')],
      ['saveState', 'files', JSON.stringify([path])],
      ['exportVariable', 'TOKEN', 'tok-123'],
      ['exportVariable', 'KEY', 'line-a\nline-b'],
      ['setOutput', 'TOKEN', 'tok-123'],
      ['setOutput', 'KEY', 'line-a\nline-b'],
      ['setOutput', 'dotenv-path', path],
      ['setOutput', 'secret-names', 'TOKEN,KEY'],
      ['info', 'Pulled 2 secrets from acme/web: TOKEN, KEY. Data keys rotated: 2.'],
      [
        'info',
        expect.stringMatching(
          /^Audit trail of acme\/web: this job's read is record \d+, hash [0-9a-f]{16}\.$/,
        ),
      ],
      ['appendSummary', '### Egg Carton'],
    ]);
    expect(parseDotenv(readFileSync(path))).toEqual({ TOKEN: 'tok-123', KEY: 'line-a\nline-b' });
  });

  it('masks each minted token, then records its id, before any output carries it', async () => {
    const { store, keyring } = openLocalBackend(home);
    const vault = new Vault({ store, keyring, namespace: 'acme/api', actor: 'test' });
    await vault.set('OPENAI_KEY', Buffer.from('sk-unit'), { upstream: 'https://api.openai.example' });
    keyring.close();
    await store.close();
    const { runner, calls } = recordingRunner({
      backend: 'local',
      'egg-home': home,
      namespace: 'acme/api',
      'export-env': 'false',
      'mask-encodings': 'none',
      'mint-tokens': 'OPENAI_KEY origins=https://app.example.com ttl=5m rps=1 spend=5',
    });
    await runMain({ runner, env: env() });
    const output = calls.find((c) => c[0] === 'setOutput' && c[1] === 'token-OPENAI_KEY') as Call;
    const token = output[2] as string;
    expect(token).toMatch(/^egg_/);
    const at = (call: Call) => calls.findIndex((c) => JSON.stringify(c) === JSON.stringify(call));
    const masked = at(['setSecret', token]);
    const recorded = calls.findIndex((c) => c[0] === 'saveState' && c[1] === 'tokens' && c[2] !== '[]');
    expect(masked).toBeGreaterThan(-1);
    expect(masked).toBeLessThan(recorded);
    expect(recorded).toBeLessThan(calls.indexOf(output));
    expect(calls.filter((c) => c[0] === 'setFailed')).toEqual([]);
  });

  it('warns, as an annotation, for each secret that expires within the window or has expired', async () => {
    const { store, keyring } = openLocalBackend(home);
    const vault = new Vault({ store, keyring, namespace: 'acme/leases', actor: 'test' });
    const day = 24 * 60 * 60 * 1000;
    const soon = new Date(Date.now() + 3 * day + 60_000).toISOString();
    const later = new Date(Date.now() + 30 * day + 60_000).toISOString();
    await vault.set('GONE', Buffer.from('a'), { expires: '2020-01-01T00:00:00.000Z' });
    await vault.set('SOON', Buffer.from('b'), { expires: soon });
    await vault.set('LATER', Buffer.from('c'), { expires: later });
    await vault.set('NEVER', Buffer.from('d'));
    keyring.close();
    await store.close();
    const warnings = async (inputs: Record<string, string>) => {
      const { runner, calls } = recordingRunner({
        backend: 'local',
        'egg-home': home,
        namespace: 'acme/leases',
        'mask-encodings': 'none',
        ...inputs,
      });
      await runMain({ runner, env: env() });
      expect(calls.filter((c) => c[0] === 'setFailed')).toEqual([]);
      return calls.filter((c) => c[0] === 'warning').map((c) => c[1] as string);
    };
    const gone = expect.stringMatching(
      /^GONE expired \d+ days ago \(2020-01-01T00:00:00.000Z\); store a new value$/,
    );
    expect(await warnings({})).toEqual([
      gone,
      `SOON expires in 3 days (${soon}); store a new value before then`,
    ]);
    expect(await warnings({ 'expiry-warning-days': '0' })).toEqual([gone]);
    expect(await warnings({ 'expiry-warning-days': '31' })).toHaveLength(3);
  });

  it('leaves a binary secret out of the environment, outputs and dotenv file with a warning naming it, and exports the rest', async () => {
    const { runner, calls } = recordingRunner({
      backend: 'local',
      'egg-home': home,
      namespace: 'acme/web',
      secrets: 'TOKEN\nBINARY',
      outputs: 'true',
      'dotenv-file': 'bin.env',
      'mask-encodings': 'none',
    });
    await runMain({ runner, env: env() });
    const path = join(temp, 'bin.env');
    expect(calls.filter((c) => c[0] === 'setFailed')).toEqual([]);
    expect(calls.filter((c) => c[0] === 'warning')).toEqual([
      [
        'warning',
        'BINARY is not UTF-8 text without NUL bytes, so it was left out of the environment, the outputs and the dotenv file; read it with `egg secrets get BINARY` or `egg secrets pull --format json`',
      ],
    ]);
    expect(calls.filter((c) => c[0] === 'exportVariable')).toEqual([['exportVariable', 'TOKEN', 'tok-123']]);
    expect(calls).toContainEqual(['setOutput', 'secret-names', 'TOKEN']);
    expect(calls.some((c) => c[1] === 'BINARY' && c[0] !== 'warning')).toBe(false);
    expect(parseDotenv(readFileSync(path))).toEqual({ TOKEN: 'tok-123' });
    // The warning comes before any mask or export, as a refusal did.
    expect(calls.findIndex((c) => c[0] === 'warning')).toBeLessThan(
      calls.findIndex((c) => c[0] === 'setSecret'),
    );
  });

  it('calls setFailed once, with the first bad input', async () => {
    const { runner, calls } = recordingRunner({ backend: 'local', outputs: 'maybe', 'export-env': 'nope' });
    await runMain({ runner, env: env() });
    expect(calls).toEqual([['setFailed', 'input "export-env" is "nope"; it takes "true" or "false".']]);
  });
});

describe('post step', () => {
  let temp: string;
  beforeAll(() => {
    temp = mkdtempSync(join(tmpdir(), 'egg-action-post-'));
  });
  afterAll(() => rmSync(temp, { recursive: true, force: true }));

  it('deletes only files directly inside RUNNER_TEMP, saying why it skips the rest', async () => {
    const inside = join(temp, 'a.env');
    const outside = join(tmpdir(), `egg-post-outside-${process.pid}`);
    writeFileSync(inside, 'x');
    writeFileSync(outside, 'x');
    try {
      const { runner, calls } = recordingRunner(
        {},
        { files: JSON.stringify([inside, outside, join(temp, 'gone')]), tokens: '[]' },
      );
      await runPost({ runner, env: { RUNNER_TEMP: temp } });
      expect(calls).toEqual([
        ['info', 'No tokens were minted by this job; nothing to revoke.'],
        ['info', `Deleted ${inside}.`],
        [
          'warning',
          `Skipped ${outside}: it is not directly inside RUNNER_TEMP, so this step will not delete it.`,
        ],
        ['info', `Skipped ${join(temp, 'gone')}: already gone.`],
      ]);
      expect(existsSync(inside)).toBe(false);
      expect(existsSync(outside)).toBe(true);
    } finally {
      rmSync(outside, { force: true });
    }
  });

  it('hands the recorded token ids to the revocation hook', async () => {
    const revoked: string[][] = [];
    const { runner, calls } = recordingRunner({}, { tokens: '["t1","t2"]' });
    await runPost({
      runner,
      env: { RUNNER_TEMP: temp },
      revokeTokens: async (ids) => {
        revoked.push([...ids]);
      },
    });
    expect(revoked).toEqual([['t1', 't2']]);
    expect(calls).toEqual([]);
  });

  it('fails, naming the ids, when tokens were recorded without the vault they were minted in', async () => {
    const { runner, calls } = recordingRunner({}, { tokens: '["t1"]' });
    await runPost({ runner, env: { RUNNER_TEMP: temp } });
    expect(calls).toEqual([
      [
        'setFailed',
        'the main step recorded 1 token(s) but not the vault they were minted in.\nRevoke them with `egg tokens revoke --tag run=<run id>` (ids: t1).',
      ],
    ]);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a role that is not a role ARN', { roleArn: 'arn:aws:iam::123456789012:user/bob' }],
    ['a region with a path', { region: 'us-east-1/../x' }],
    ['no audience', { audience: undefined }],
    ['a namespace with a partition marker', { namespace: 'tokens#acme/web' }],
    ['an unknown backend', { backend: 'gcp' }],
  ])('refuses a saved aws vault with %s, before any request', async (_label, change) => {
    const vault = {
      backend: 'aws',
      region: 'us-east-1',
      table: 'egg',
      namespace: 'acme/web',
      roleArn: 'arn:aws:iam::123456789012:role/egg-ci',
      audience: 'sts.amazonaws.com',
      ...change,
    };
    const { runner, calls } = recordingRunner({}, { tokens: '["t1"]', 'token-vault': JSON.stringify(vault) });
    // No OIDC endpoint in env: a request would fail differently (and nock is off in unit tests).
    await runPost({ runner, env: { RUNNER_TEMP: temp } });
    expect(calls).toEqual([['setFailed', 'the main step\'s saved state "token-vault" is malformed.']]);
  });

  it('warns, naming the ids and the command, when the post step cannot get its own OIDC token', async () => {
    const vault = {
      backend: 'aws',
      region: 'us-east-1',
      table: 'egg',
      namespace: 'acme/web',
      roleArn: 'arn:aws:iam::123456789012:role/egg-ci',
      audience: 'sts.amazonaws.com',
    };
    const { runner, calls } = recordingRunner(
      {},
      { tokens: '["t1","t2"]', 'token-vault': JSON.stringify(vault) },
    );
    await runPost({ runner, env: { RUNNER_TEMP: temp, GITHUB_RUN_ID: '4242' } });
    expect(calls).toEqual([
      [
        'warning',
        'could not revoke the 2 token(s) this job minted in acme/web: this job cannot request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set.\n' +
          'Revoke them with `EGG_TABLE=egg egg tokens revoke --backend aws --namespace acme/web --tag run=4242` (ids: t1, t2); otherwise they stay valid until they expire.',
      ],
    ]);
  });

  it('refuses malformed state', async () => {
    const { runner, calls } = recordingRunner({}, { files: '{"not":"a list"}' });
    await runPost({ runner, env: { RUNNER_TEMP: temp } });
    expect(calls).toEqual([['setFailed', 'the main step\'s saved state "files" is not a list of strings.']]);
  });
});
