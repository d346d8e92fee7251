/**
 * `egg secrets seal` (issue 14, item 2): the built CLI on a local vault. The key is sealed in
 * the CLI and only the sealed blob is stored (the vault file never holds the key before its
 * first use); `--public-key` prints what a script seals with; `--import` stores a blob sealed
 * elsewhere, and refuses one sealed to another key with one sentence, storing nothing.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal, sealingKid } from '../../src/crypto/seal.js';
import { egg, findLeaks } from '../support/cli.js';

const KEY = 'sk-seal-e2e-canary-4be0d2a9-DO-NOT-LEAK';
const OTHER = 'sk-seal-e2e-other-81c3aa07-DO-NOT-LEAK';
const UPSTREAM = 'https://api.openai.com';

describe('egg secrets seal', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  let publicKey: { namespace: string; alg: string; kid: string; spki: string };
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-seal-e2e-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const vaultBytes = () =>
    Buffer.concat(
      ['vault.db', 'vault.db-wal'].map((file) => {
        try {
          return readFileSync(join(env.EGG_HOME as string, file));
        } catch {
          return Buffer.alloc(0);
        }
      }),
    );

  it('prints the sealing public key, in text and JSON', () => {
    const json = egg(['secrets', 'seal', '--public-key', '--json'], { env });
    expect(json.code).toBe(0);
    publicKey = JSON.parse(json.stdout);
    expect(publicKey).toEqual({
      namespace: 'acme/web',
      alg: 'RSA-OAEP-256+A256GCM',
      kid: sealingKid(Buffer.from(publicKey.spki, 'base64url')),
      spki: publicKey.spki,
    });
    const text = egg(['secrets', 'seal', '--public-key'], { env });
    expect({ code: text.code, stdout: text.stdout }).toEqual({
      code: 0,
      stdout: `kid:  ${publicKey.kid}\nspki: ${publicKey.spki}\n`,
    });
  });

  it('seals a key from stdin, stores only the sealed blob, and the first read unseals it', () => {
    const sealed = egg(['secrets', 'seal', 'OPENAI_KEY', '--upstream', UPSTREAM], { env, input: KEY });
    expect({ code: sealed.code, stdout: sealed.stdout, stderr: sealed.stderr }).toEqual({
      code: 0,
      stdout: `Sealed OPENAI_KEY in acme/web (rev 1, pinned to ${UPSTREAM}); its first use unseals it.\n`,
      stderr: '',
    });
    expect(JSON.parse(egg(['secrets', 'list', '--json'], { env }).stdout)).toMatchObject([
      { name: 'OPENAI_KEY', rev: 1, gen: 1, sealed: true, upstream: UPSTREAM },
    ]);
    expect(findLeaks(vaultBytes(), KEY)).toEqual([]);
    const got = egg(['secrets', 'get', 'OPENAI_KEY'], { env });
    expect(got.stdoutBytes.toString()).toBe(KEY);
    const [after] = JSON.parse(egg(['secrets', 'list', '--json'], { env }).stdout);
    expect(after).toMatchObject({ name: 'OPENAI_KEY', rev: 1, gen: 2 });
    expect(after.sealed).toBeUndefined();
    expect(findLeaks(sealed.stdout + sealed.stderr + got.stderr, KEY)).toEqual([]);
  });

  it('refuses the newline of <<< before sealing, and stores nothing', () => {
    const result = egg(['secrets', 'seal', 'NEWLINE_KEY', '--upstream', UPSTREAM], {
      env,
      input: `${KEY}\n`,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^Error: NEWLINE_KEY is a provider key, sent as it is in a header, and its value starts or ends with whitespace/,
    );
    expect(egg(['secrets', 'list', '--json'], { env }).stdout).not.toContain('NEWLINE_KEY');
  });

  it('stores a key sealed elsewhere with --import, as a script seals it', async () => {
    const blob = await seal({
      publicKey,
      namespace: 'acme/web',
      name: 'ANTHROPIC_KEY',
      value: Buffer.from(OTHER),
    });
    const file = join(base, 'sealed.json');
    writeFileSync(file, JSON.stringify(blob));
    const stored = egg(
      [
        'secrets',
        'seal',
        'ANTHROPIC_KEY',
        '--upstream',
        'https://api.anthropic.com',
        '--inject',
        'x-api-key: {}',
        '--import',
        file,
      ],
      { env },
    );
    expect({ code: stored.code, stderr: stored.stderr }).toEqual({ code: 0, stderr: '' });
    expect(egg(['secrets', 'get', 'ANTHROPIC_KEY'], { env }).stdoutBytes.toString()).toBe(OTHER);
  });

  it('refuses with one sentence a blob sealed to another key, and stores nothing', async () => {
    const spki = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    const blob = await seal({
      publicKey: { kid: sealingKid(spki), spki: spki.toString('base64url') },
      namespace: 'acme/web',
      name: 'STOLEN_KEY',
      value: Buffer.from(OTHER),
    });
    const result = egg(['secrets', 'seal', 'STOLEN_KEY', '--upstream', UPSTREAM, '--import', '-'], {
      env,
      input: JSON.stringify(blob),
    });
    expect({ code: result.code, stderr: result.stderr }).toEqual({
      code: 1,
      stderr: `Error: the key for STOLEN_KEY was sealed to the sealing key ${blob.kid}, not to this vault's (${publicKey.kid}); nothing was stored (seal it again with the key \`egg secrets seal --public-key\` prints).\n`,
    });
    expect(egg(['secrets', 'list', '--json'], { env }).stdout).not.toContain('STOLEN_KEY');
  });

  it('says what to give when the name or --upstream is missing (exit 2)', () => {
    const result = egg(['secrets', 'seal', 'OPENAI_KEY'], { env, input: KEY });
    expect({ code: result.code, stderr: result.stderr }).toEqual({
      code: 2,
      stderr:
        'Error: give the secret name and --upstream, or --public-key (egg secrets seal NAME --upstream https://api.example.com).\n',
    });
  });
});
