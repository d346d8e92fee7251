/**
 * Sealed provider keys (issue 14, item 2; docs/sealed-keys.md) on the local backend: a key
 * sealed with WebCrypto as the console page seals it is stored without being unsealed, the
 * first read unseals it and moves it under the keyring, and every tampering is refused at
 * the point where it can be seen: the shape and the sealing key when it is stored, the name
 * and the bytes when it is first used (nothing is returned, the item stays as it was).
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { generateKeyPairSync, privateDecrypt, constants, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { openLocalBackend } from '../../src/backends/local.js';
import {
  parseSealed,
  putSealedProviderKey,
  seal,
  type SealedKey,
  sealingPublicKey,
} from '../../src/backends/sealed-keys.js';
import { sealingKid } from '../../src/crypto/seal.js';
import { SEALING_KEY_FILE } from '../../src/keyrings/sealing.js';
import { Vault } from '../../src/vault/vault.js';

const NAMESPACE = 'acme/web';
const KEY = 'sk-sealed-canary-3f9a1c70-DO-NOT-LEAK';
const UPSTREAM = 'https://api.openai.com';

/** `text` (base64url) with one bit of byte `at` flipped. */
function flip(text: string, at: number): string {
  const bytes = Buffer.from(text, 'base64url');
  bytes[at]! ^= 0x01;
  return bytes.toString('base64url');
}

describe('sealed provider keys on the local backend', () => {
  let home: string;
  let backend: Backend;
  let vault: Vault;

  beforeEach(() => {
    home = join(mkdtempSync(join(tmpdir(), 'egg-sealed-')), 'home');
    backend = openLocalBackend(home, { create: true });
    vault = new Vault({ ...backend, namespace: NAMESPACE, actor: 'test' });
  });
  afterEach(async () => {
    await backend.close();
    rmSync(join(home, '..'), { recursive: true, force: true });
  });

  const sealFor = async (name: string, value = KEY, namespace = NAMESPACE) =>
    seal({
      publicKey: await sealingPublicKey(backend, namespace),
      namespace,
      name,
      value: Buffer.from(value),
    });

  it('makes one RSA-3072 sealing key, 0600, whose kid is its SPKI thumbprint', async () => {
    const first = await sealingPublicKey(backend, NAMESPACE);
    const path = join(home, SEALING_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first.kid).toBe(sealingKid(Buffer.from(first.spki, 'base64url')));
    expect(first.kid).toMatch(/^rsa:[A-Za-z0-9_-]{22}$/);
    // Another process, another namespace: the same key.
    const again = openLocalBackend(home);
    try {
      expect(await sealingPublicKey(again, 'acme/other')).toEqual(first);
    } finally {
      await again.close();
    }
  });

  it('refuses a sealing key file that other users can read', async () => {
    await sealingPublicKey(backend, NAMESPACE);
    const path = join(home, SEALING_KEY_FILE);
    chmodSync(path, 0o640);
    const again = openLocalBackend(home);
    try {
      await expect(sealingPublicKey(again, NAMESPACE)).rejects.toMatchObject({
        code: 'ERR_INSECURE_PERMISSIONS',
        message: `${path} is open to other users (mode 0640); refusing to read the sealing key from it`,
      });
    } finally {
      await again.close();
    }
  });

  it('stores a sealed key as it is, unseals it on first read, and moves it under the keyring', async () => {
    const blob = await sealFor('OPENAI_KEY');
    const meta = await putSealedProviderKey(backend, {
      namespace: NAMESPACE,
      name: 'OPENAI_KEY',
      sealed: JSON.parse(JSON.stringify(blob)),
      upstream: UPSTREAM,
      inject: 'X-Api-Key: {}',
    });
    expect(meta).toMatchObject({
      name: 'OPENAI_KEY',
      rev: 1,
      gen: 1,
      sealed: true,
      upstream: UPSTREAM,
      inject: 'x-api-key: {}',
    });
    const [stored] = await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY']);
    const ciphertext = Buffer.from(blob.ciphertext, 'base64url');
    expect(stored).toMatchObject({
      sealed: true,
      keyId: blob.kid,
      wrappedKey: Buffer.from(blob.wrappedKey, 'base64url'),
      iv: Buffer.from(blob.iv, 'base64url'),
      ciphertext: ciphertext.subarray(0, -16),
      tag: ciphertext.subarray(-16),
    });

    const read = await vault.get('OPENAI_KEY', { pinned: true });
    expect({ value: read.value.toString(), upstream: read.upstream, inject: read.inject }).toEqual({
      value: KEY,
      upstream: UPSTREAM,
      inject: 'x-api-key: {}',
    });
    const [moved] = await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY']);
    expect(moved?.sealed).toBeUndefined();
    expect(moved?.keyId).toMatch(/^local:/);
    expect(moved).toMatchObject({ rev: 1, gen: 2, upstream: UPSTREAM, inject: 'x-api-key: {}' });
    expect((await vault.get('OPENAI_KEY')).value.toString()).toBe(KEY);
    expect((await vault.list()).map((m) => [m.name, m.sealed ?? false])).toEqual([['OPENAI_KEY', false]]);
    const trail = await vault.auditTrail();
    expect(trail.map((r) => [r.action, r.outcome])).toEqual([
      ['set-sealed', 'ok'],
      ['read', 'ok'],
      ['read', 'ok'],
      ['list', 'ok'],
    ]);
    expect(JSON.stringify(trail)).not.toContain(KEY);
  });

  it('leaves a sealed key sealed under deferred rotation until the rotator passes', async () => {
    await vault.putSealed('OPENAI_KEY', parseSealed(await sealFor('OPENAI_KEY')), { upstream: UPSTREAM });
    const reader = new Vault({ ...backend, namespace: NAMESPACE, actor: 'ci', rotation: 'deferred' });
    expect((await reader.get('OPENAI_KEY')).value.toString()).toBe(KEY);
    expect((await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY']))[0]?.sealed).toBe(true);
    expect(await vault.rotate(['OPENAI_KEY'])).toEqual({ rotated: 1, skipped: 0, failed: 0, deferred: 0 });
    expect((await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY']))[0]?.sealed).toBeUndefined();
    expect((await reader.get('OPENAI_KEY')).value.toString()).toBe(KEY);
  });

  it('refuses a key sealed to another sealing key (wrong kid) and stores nothing', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    const blob = await seal({
      publicKey: { kid: sealingKid(other), spki: other.toString('base64url') },
      namespace: NAMESPACE,
      name: 'OPENAI_KEY',
      value: Buffer.from(KEY),
    });
    const { kid } = await sealingPublicKey(backend, NAMESPACE);
    await expect(
      putSealedProviderKey(backend, {
        namespace: NAMESPACE,
        name: 'OPENAI_KEY',
        sealed: blob,
        upstream: UPSTREAM,
      }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_VALUE',
      message: `the key for OPENAI_KEY was sealed to the sealing key ${blob.kid}, not to this vault's (${kid}); nothing was stored`,
    });
    expect(await backend.store.getSecrets(NAMESPACE)).toEqual([]);
  });

  /** Stored as given (the store cannot tell), refused at first use: nothing returned, the item unchanged. */
  it.each<[string, (blob: SealedKey) => SealedKey]>([
    ['a key sealed for another name (its AAD)', (blob) => blob],
    ['a flipped bit in the ciphertext', (blob) => ({ ...blob, ciphertext: flip(blob.ciphertext, 3) })],
    [
      'a flipped bit in the tag',
      (blob) => ({
        ...blob,
        ciphertext: flip(blob.ciphertext, Buffer.from(blob.ciphertext, 'base64url').length - 1),
      }),
    ],
    ['a flipped bit in the IV', (blob) => ({ ...blob, iv: flip(blob.iv, 0) })],
    ['a flipped bit in the wrapped key', (blob) => ({ ...blob, wrappedKey: flip(blob.wrappedKey, 200) })],
  ])('refuses %s at first use and returns nothing', async (what, tamper) => {
    const sealedName = what.includes('another name') ? 'OTHER_KEY' : 'OPENAI_KEY';
    const blob = tamper(await sealFor(sealedName));
    await putSealedProviderKey(backend, {
      namespace: NAMESPACE,
      name: 'OPENAI_KEY',
      sealed: blob,
      upstream: UPSTREAM,
    });
    const [before] = await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY']);
    await expect(vault.get('OPENAI_KEY', { pinned: true })).rejects.toMatchObject({
      code: 'ERR_DECRYPTION_FAILED',
      message:
        'could not decrypt the sealed provider key OPENAI_KEY: the item is corrupt, was moved, or the key is wrong',
    });
    expect(await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY'])).toEqual([before]);
    expect((await vault.auditTrail()).at(-1)).toMatchObject({ action: 'read', outcome: 'decryption-failed' });
  });

  it('refuses a key sealed for another namespace at first use', async () => {
    const blob = await sealFor('OPENAI_KEY', KEY, 'acme/other');
    await putSealedProviderKey(backend, {
      namespace: NAMESPACE,
      name: 'OPENAI_KEY',
      sealed: blob,
      upstream: UPSTREAM,
    });
    await expect(vault.get('OPENAI_KEY')).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('refuses an item whose kid was rewritten in the store', async () => {
    await putSealedProviderKey(backend, {
      namespace: NAMESPACE,
      name: 'OPENAI_KEY',
      sealed: await sealFor('OPENAI_KEY'),
      upstream: UPSTREAM,
    });
    const [item] = await backend.store.getSecrets(NAMESPACE, ['OPENAI_KEY']);
    await backend.store.putSecret({ ...item!, keyId: 'rsa:AAAAAAAAAAAAAAAAAAAAAA' }, { kind: 'rev', rev: 1 });
    await expect(vault.get('OPENAI_KEY')).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
  });

  it('wraps a 32-byte data key with RSA-OAEP-SHA-256 under the sealing key', async () => {
    const blob = await sealFor('OPENAI_KEY');
    const der = readFileSync(join(home, SEALING_KEY_FILE));
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const dataKey = privateDecrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from(blob.wrappedKey, 'base64url'),
    );
    expect(dataKey.length).toBe(32);
  });

  it('replaces a sealed key with a set, which is not sealed', async () => {
    await putSealedProviderKey(backend, {
      namespace: NAMESPACE,
      name: 'OPENAI_KEY',
      sealed: await sealFor('OPENAI_KEY'),
      upstream: UPSTREAM,
    });
    const meta = await vault.set('OPENAI_KEY', Buffer.from('sk-new'));
    expect(meta).toMatchObject({ rev: 2, upstream: UPSTREAM });
    expect(meta.sealed).toBeUndefined();
    expect((await vault.get('OPENAI_KEY')).value.toString()).toBe('sk-new');
  });
});

describe('parseSealed', () => {
  const good = {
    v: 1,
    alg: 'RSA-OAEP-256+A256GCM',
    kid: 'rsa:AAAAAAAAAAAAAAAAAAAAAA',
    wrappedKey: Buffer.alloc(384, 1).toString('base64url'),
    iv: Buffer.alloc(12, 2).toString('base64url'),
    ciphertext: Buffer.alloc(40, 3).toString('base64url'),
  };
  const hint = 'seal it as docs/sealed-keys.md describes, with the key from `egg secrets seal --public-key`';

  it('accepts the format', () => {
    expect(parseSealed(good)).toEqual(good);
  });

  it.each<[string, unknown, string]>([
    ['an array', [good], 'is not a JSON object'],
    ['null', null, 'is not a JSON object'],
    ['a string', JSON.stringify(good), 'is not a JSON object'],
    ['an extra field', { ...good, name: 'OPENAI_KEY' }, 'has a field the format does not have (name)'],
    [
      'extra fields, named in order',
      { ...good, zone: 'x', name: 'OPENAI_KEY' },
      'has a field the format does not have (name, zone)',
    ],
    ['a kid that is not a string', { ...good, kid: 7 }, 'names no sealing key ("kid")'],
    ['an iv that is not a string', { ...good, iv: [1, 2] }, 'has no base64url "iv"'],
    [
      'a ciphertext with a character outside base64url',
      { ...good, ciphertext: 'AAAA.AAA' },
      'has no base64url "ciphertext"',
    ],
    ['version 2', { ...good, v: 2 }, 'is not format version 1 ("v": 1)'],
    ['another algorithm', { ...good, alg: 'RSA-OAEP+A256GCM' }, 'does not use "alg": "RSA-OAEP-256+A256GCM"'],
    ['no kid', { ...good, kid: '' }, 'names no sealing key ("kid")'],
    ['padded base64', { ...good, iv: `${good.iv}==` }, 'has no base64url "iv"'],
    [
      'standard base64',
      { ...good, wrappedKey: Buffer.alloc(384, 0xfb).toString('base64') },
      'has no base64url "wrappedKey"',
    ],
    [
      'an RSA-2048 block',
      { ...good, wrappedKey: Buffer.alloc(256).toString('base64url') },
      'has a "wrappedKey" of 256 bytes, not 384',
    ],
    [
      'a 16-byte IV',
      { ...good, iv: Buffer.alloc(16).toString('base64url') },
      'has a "iv" of 16 bytes, not 12',
    ],
    [
      'a ciphertext with only a tag',
      { ...good, ciphertext: Buffer.alloc(16).toString('base64url') },
      'has a "ciphertext" of 16 bytes, not 17 to 65552',
    ],
  ])('refuses %s in one sentence', (_what, input, why) => {
    expect(() => parseSealed(input)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_VALUE',
        message: `the sealed key ${why}; nothing was stored`,
        hint,
      }),
    );
  });
});

describe('seal', () => {
  it('refuses to seal to a public key that is not RSA-3072', async () => {
    const spki = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64url');
    await expect(
      seal({ publicKey: { kid: 'rsa:short', spki }, namespace: 'acme', name: 'K', value: Buffer.from('v') }),
    ).rejects.toThrow('a sealing key is RSA-3072, not RSA-2048');
  });
});
