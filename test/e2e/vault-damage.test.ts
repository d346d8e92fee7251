/**
 * The built CLI against a local vault whose files were deleted, truncated, replaced or
 * are still held open by another process (issue 9, items 10 and 12): every refusal is one
 * sentence naming the file and the way out, exit 1, never a raw SQLite error or a stack;
 * `egg audit verify` never calls a damaged vault intact; `egg doctor` proves the key opens
 * the vault and refuses a keyring the local backend does not have.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { Vault } from '../../src/vault/vault.js';
import { EGG_BIN, egg } from '../support/cli.js';

let base: string;
let home: string;
let kek: string;
let vaultDb: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'egg-damage-e2e-'));
  home = join(base, 'home');
  kek = join(home, 'kek');
  vaultDb = join(home, 'vault.db');
  env = {
    EGG_HOME: home,
    EGG_NAMESPACE: 'acme/web',
    EGG_BACKEND: '',
    EGG_KEYRING: '',
    ACTIONS_ID_TOKEN_REQUEST_URL: '',
  };
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const run = (args: string[], input?: string, extra: NodeJS.ProcessEnv = {}) =>
  egg(args, { env: { ...env, ...extra }, cwd: base, ...(input === undefined ? {} : { input }) });

function set(name: string, value: string): void {
  expect(run(['secrets', 'set', name], value)).toMatchObject({ code: 0, stderr: '' });
}

const removeVaultFiles = () => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${vaultDb}${suffix}`, { force: true });
};

describe('a deleted kek', () => {
  it('makes `egg secrets set` and `egg init` fail instead of creating a new key', () => {
    set('API_KEY', 'first');
    rmSync(kek);
    const refusal = `Error: ${kek} is missing but ${vaultDb} holds 1 secret encrypted under it (restore ${kek} from your backup, or move ${vaultDb} away and run \`egg init\` to start over).\n`;
    expect(run(['secrets', 'set', 'OTHER'], 'second')).toMatchObject({
      code: 1,
      stdout: '',
      stderr: refusal,
    });
    expect(run(['init'])).toMatchObject({ code: 1, stdout: '', stderr: refusal });
    expect(existsSync(kek)).toBe(false);
  });
});

describe('a damaged vault.db', () => {
  const damaged = (reason: string) => () =>
    `Error: ${vaultDb} is damaged: SQLite reports "${reason}" (restore ${vaultDb} from your backup, or move it and ${kek} away and run \`egg init\` to start over).\n`;
  const empty = () =>
    `Error: ${vaultDb} is empty but ${kek} exists (restore ${vaultDb} from your backup; only if nothing was ever stored with this key, move ${kek} away and run \`egg init\`).\n`;

  it.each([
    [
      'truncated to 0 bytes',
      () => {
        removeVaultFiles();
        writeFileSync(vaultDb, '', { mode: 0o600 });
      },
      empty,
    ],
    [
      'truncated to half its size',
      () => truncateSync(vaultDb, Math.floor(statSync(vaultDb).size / 2)),
      damaged('database disk image is malformed'),
    ],
    [
      'replaced with garbage',
      () => {
        removeVaultFiles();
        writeFileSync(vaultDb, Buffer.alloc(16384, 0x5a), { mode: 0o600 });
      },
      damaged('file is not a database'),
    ],
  ])('refuses a vault.db %s, and audit verify does not call it intact', async (_what, damage, expected) => {
    // Seeded through the library (the CLI's own code) to keep the test short; closed, so
    // the WAL is folded into vault.db before it is damaged.
    const backend = openLocalBackend(home, { create: true });
    const vault = new Vault({ ...backend, namespace: 'acme/web', actor: 'test' });
    for (let i = 0; i < 30; i++) await vault.set(`SECRET_${i}`, Buffer.from(`value ${i} ${'x'.repeat(100)}`));
    backend.keyring.close();
    await backend.store.close();
    damage();
    const stderr = expected();
    for (const args of [
      ['secrets', 'list'],
      ['audit', 'verify'],
      ['secrets', 'set', 'NEW'],
    ]) {
      const result = run(args, 'new');
      expect(result).toMatchObject({ code: 1, stderr });
      expect(result.stdout).not.toContain('intact');
    }
    const doctor = run(['doctor']);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain(`fail  vault: ${stderr.slice('Error: '.length).split(' (')[0]}`);
  });
});

describe('egg doctor', () => {
  it('proves the key opens the vault without reading a secret', () => {
    set('API_KEY', 'first');
    set('DB_URL', 'second');
    const audit = run(['audit', '--json']).stdout;
    const result = run(['doctor']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.split('\n').slice(2, 5)).toEqual([
      `ok    configuration: backend local, namespace acme/web, keyring local, EGG_HOME ${home}`,
      `ok    EGG_HOME permissions: ${home} is 0700 and its 2 files are 0600, all yours`,
      `ok    vault: ${kek} opens ${vaultDb} (key check value matches); 2 secrets, all wrapped by it; SQLite quick_check ok`,
    ]);
    // No read was made (and none hidden from the trail): the secrets keep their generation.
    const list = JSON.parse(run(['secrets', 'list', '--json']).stdout) as { gen: number }[];
    expect(list.map((s) => s.gen)).toEqual([1, 1]);
    expect(JSON.parse(run(['audit', '--json']).stdout).length).toBe(JSON.parse(audit).length + 1);
  });

  it.each(['kms', 'kms-hierarchical'])(
    'refuses EGG_KEYRING=%s on the local backend instead of printing it',
    (keyring) => {
      set('API_KEY', 'first');
      const result = run(['doctor'], undefined, { EGG_KEYRING: keyring });
      expect(result.code).toBe(1);
      expect(result.stdout.split('\n').slice(2, 4)).toEqual([
        `fail  configuration: the local backend has only the local keyring; "${keyring}" needs --backend aws`,
        '        fix: unset EGG_KEYRING (or "keyring" in .egg.json or the user config), or use --backend aws',
      ]);
      expect(run(['secrets', 'list'], undefined, { EGG_KEYRING: keyring })).toMatchObject({
        code: 2,
        stderr: `Error: the local backend has only the local keyring; "${keyring}" needs --backend aws (unset EGG_KEYRING (or "keyring" in .egg.json or the user config), or use --backend aws).\n`,
      });
    },
  );
});

describe('first use from several processes at once', () => {
  it('agrees on one kek and one vault', async () => {
    const file = join(base, 'value');
    writeFileSync(file, 'same');
    const runs = await Promise.all(
      ['A', 'B', 'C', 'D'].map(
        (name) =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn(process.execPath, [EGG_BIN, 'secrets', 'set', name, '--from-file', file], {
              env: { ...process.env, ...env, FORCE_COLOR: '0' },
              cwd: base,
              stdio: ['ignore', 'ignore', 'pipe'],
            });
            let stderr = '';
            child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
            child.on('close', (code) => resolve({ code, stderr }));
          }),
      ),
    );
    expect(runs).toEqual(Array(4).fill({ code: 0, stderr: '' }));
    const pulled = run(['secrets', 'pull', '--format', 'json']);
    expect(JSON.parse(pulled.stdout)).toEqual({ A: 'same', B: 'same', C: 'same', D: 'same' });
  });
});

describe('old keys after `egg secrets get` and `egg secrets rm` while another process holds the vault', () => {
  it('leaves no old wrapped key or ciphertext in vault.db, -wal or -shm', async () => {
    set('API_KEY', 'sk_live_erasure_canary_0123456789abcdef');
    set('KEEP', 'stays');
    // Another process's connection, as `egg proxy serve` keeps one: it read, and stays open.
    const other = new SqliteStore(vaultDb);
    try {
      const [first] = await other.getSecrets('acme/web', ['API_KEY']);
      expect(run(['secrets', 'get', 'API_KEY']).code).toBe(0);
      const [second] = await other.getSecrets('acme/web', ['API_KEY']);
      expect(run(['secrets', 'rm', 'API_KEY']).code).toBe(0);
      const files = ['', '-wal', '-shm']
        .map((suffix) => `${vaultDb}${suffix}`)
        .filter((path) => existsSync(path))
        .map((path) => readFileSync(path));
      expect(files.length).toBeGreaterThan(1);
      for (const item of [first, second]) {
        for (const file of files) {
          expect(file.includes(item!.wrappedKey)).toBe(false);
          expect(file.includes(item!.ciphertext)).toBe(false);
        }
      }
    } finally {
      await other.close();
    }
  });
});
