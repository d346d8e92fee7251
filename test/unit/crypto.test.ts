/**
 * AES-256-GCM with item-binding AAD, and AES-256-KW (RFC 3394). Every way a ciphertext
 * can be wrong must fail with the same `DecryptionFailed`.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decrypt, encrypt, type ItemBinding, itemAad, type Sealed } from '../../src/crypto/aead.js';
import { unwrapKey, wrapKey } from '../../src/crypto/key-wrap.js';
import { wipe, withKey } from '../../src/crypto/wipe.js';
import { DecryptionFailed } from '../../src/errors.js';

const failure = {
  name: 'DecryptionFailed',
  code: 'ERR_DECRYPTION_FAILED',
  message: 'could not decrypt secret API_KEY: the item is corrupt, was moved, or the key is wrong',
};

const binding: ItemBinding = { namespace: 'acme/web', name: 'API_KEY', rev: 3, gen: 7 };

function flip(bytes: Buffer, index = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] = (copy[index] as number) ^ 0x01;
  return copy;
}

describe('AES-256-GCM encrypt/decrypt', () => {
  const key = randomBytes(32);
  const value = Buffer.from('postgres://user:p4ss@db/prod\n"quoted" $HOME \\ ünïcødé');
  const sealed = encrypt(key, value, itemAad(binding));

  it('round-trips a value', () => {
    expect(decrypt(key, sealed, itemAad(binding), 'secret API_KEY')).toEqual(value);
    expect(sealed.iv).toHaveLength(12);
    expect(sealed.tag).toHaveLength(16);
    expect(sealed.ciphertext.includes(value)).toBe(false);
  });

  it('uses a fresh IV every time', () => {
    const ivs = new Set(
      Array.from({ length: 200 }, () => encrypt(key, value, itemAad(binding)).iv.toString('hex')),
    );
    expect(ivs.size).toBe(200);
  });

  describe('a provider key (egg/secret/v2)', () => {
    const provider: ItemBinding = {
      ...binding,
      upstream: 'https://api.openai.com',
      inject: 'Authorization: Bearer {}',
      price: 'input=2500000,output=10000000',
    };
    const sealedKey = encrypt(key, value, itemAad(provider));

    it('round-trips under the same metadata', () => {
      expect(decrypt(key, sealedKey, itemAad(provider), 'secret API_KEY')).toEqual(value);
    });

    const without = (...names: ('upstream' | 'inject' | 'price')[]) =>
      Object.fromEntries(
        Object.entries(provider).filter(([k]) => !(names as string[]).includes(k)),
      ) as ItemBinding;

    it.each<[string, ItemBinding]>([
      ['pointed at another upstream', { ...provider, upstream: 'https://evil.example' }],
      ['pointed at the same host on another port', { ...provider, upstream: 'https://api.openai.com:8443' }],
      ['given another injection template', { ...provider, inject: 'x-exfil: {}' }],
      ['made cheaper', { ...provider, price: 'input=0,output=0' }],
      ['stripped of its upstream', without('upstream')],
      ['stripped of its injection template', without('inject')],
      ['stripped of its price', without('price')],
      ['stripped of all its metadata', without('upstream', 'inject', 'price')],
    ])('refuses a key %s', (_attack, changed) => {
      expect(() => decrypt(key, sealedKey, itemAad(changed), 'secret API_KEY')).toThrow(
        expect.objectContaining(failure),
      );
    });

    it('refuses a plain secret given proxy metadata', () => {
      expect(() =>
        decrypt(key, sealed, itemAad({ ...binding, upstream: 'https://evil.example' }), 'secret API_KEY'),
      ).toThrow(expect.objectContaining(failure));
    });
  });

  it('round-trips an empty value', () => {
    const empty = encrypt(key, Buffer.alloc(0), itemAad(binding));
    expect(decrypt(key, empty, itemAad(binding), 'secret API_KEY')).toEqual(Buffer.alloc(0));
  });

  it.each<[string, Partial<ItemBinding>]>([
    ['moved to another namespace', { namespace: 'acme/api' }],
    ['moved to another name', { name: 'OTHER_KEY' }],
    ['replayed at another rev', { rev: 2 }],
    ['replayed at another gen', { gen: 6 }],
  ])('refuses a ciphertext %s', (_attack, change) => {
    expect(() => decrypt(key, sealed, itemAad({ ...binding, ...change }), 'secret API_KEY')).toThrow(
      expect.objectContaining(failure),
    );
  });

  it.each<[string, (s: Sealed) => Sealed]>([
    ['a flipped ciphertext bit', (s) => ({ ...s, ciphertext: flip(s.ciphertext, 5) })],
    ['a truncated ciphertext', (s) => ({ ...s, ciphertext: s.ciphertext.subarray(1) })],
    ['a flipped tag bit', (s) => ({ ...s, tag: flip(s.tag) })],
    ['a short tag', (s) => ({ ...s, tag: s.tag.subarray(0, 12) })],
    ['a long tag', (s) => ({ ...s, tag: Buffer.concat([s.tag, Buffer.alloc(1)]) })],
    ['a flipped IV bit', (s) => ({ ...s, iv: flip(s.iv) })],
    ['a short IV', (s) => ({ ...s, iv: s.iv.subarray(0, 8) })],
  ])('refuses %s with the same error', (_attack, tamper) => {
    let thrown: unknown;
    try {
      decrypt(key, tamper(sealed), itemAad(binding), 'secret API_KEY');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DecryptionFailed);
    expect(thrown).toMatchObject(failure);
  });

  it('refuses an IV or tag of the wrong length before any cipher runs (no cause from OpenSSL)', () => {
    const shapes: [string, Sealed][] = [
      ['short IV', { ...sealed, iv: sealed.iv.subarray(0, 8) }],
      ['long IV', { ...sealed, iv: Buffer.concat([sealed.iv, Buffer.alloc(4)]) }],
      ['short tag', { ...sealed, tag: sealed.tag.subarray(0, 4) }],
    ];
    for (const [name, shape] of shapes) {
      let thrown: unknown;
      try {
        decrypt(key, shape, itemAad(binding), 'secret API_KEY');
      } catch (error) {
        thrown = error;
      }
      expect({ name, thrown }).toMatchObject({ name, thrown: failure });
      expect((thrown as Error).cause, name).toBeUndefined();
    }
    let bad: unknown;
    try {
      decrypt(key, { ...sealed, tag: flip(sealed.tag) }, itemAad(binding), 'secret API_KEY');
    } catch (error) {
      bad = error;
    }
    expect((bad as Error).cause).toBeInstanceOf(Error);
  });

  it('refuses the wrong key with the same error', () => {
    expect(() => decrypt(randomBytes(32), sealed, itemAad(binding), 'secret API_KEY')).toThrow(
      expect.objectContaining(failure),
    );
  });

  it('binds the AAD unambiguously (no field can bleed into the next)', () => {
    const a = itemAad({ namespace: 'a', name: 'b_c', rev: 1, gen: 1 });
    const b = itemAad({ namespace: 'a_b', name: 'c', rev: 1, gen: 1 });
    const c = itemAad({ namespace: 'a', name: 'b', rev: 11, gen: 1 });
    const d = itemAad({ namespace: 'a', name: 'b', rev: 1, gen: 11 });
    expect(new Set([a, b, c, d].map((x) => x.toString('hex'))).size).toBe(4);
  });

  it('is misuse, not a decryption failure, to pass a key of the wrong size', () => {
    const misuse = { name: 'TypeError', message: 'AES-256-GCM needs a 32-byte key' };
    expect(() => encrypt(randomBytes(16), value, itemAad(binding))).toThrow(expect.objectContaining(misuse));
    expect(() => decrypt(randomBytes(31), sealed, itemAad(binding), 'x')).toThrow(
      expect.objectContaining(misuse),
    );
  });
});

describe('AES-256 key wrap (RFC 3394)', () => {
  // RFC 3394 section 4.6: wrap 256 bits of key data with a 256-bit KEK.
  const kek = Buffer.from('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', 'hex');
  const keyData = Buffer.from('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F', 'hex');
  const expected = Buffer.from(
    '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21',
    'hex',
  );

  it('matches the test vector of section 4.6', () => {
    expect(wrapKey(kek, keyData).toString('hex')).toBe(expected.toString('hex'));
    expect(unwrapKey(kek, expected, 'secret API_KEY')).toEqual(keyData);
  });

  it.each<[string, () => Buffer]>([
    ['a flipped bit', () => flip(expected, 9)],
    ['a flipped integrity block', () => flip(expected, 0)],
    ['a truncated wrapped key', () => expected.subarray(0, 32)],
    ['a wrapped key not a multiple of 8 bytes', () => expected.subarray(0, 37)],
    ['a too-short wrapped key', () => expected.subarray(0, 16)],
  ])('refuses %s with the same error', (_attack, wrapped) => {
    expect(() => unwrapKey(kek, wrapped(), 'secret API_KEY')).toThrow(expect.objectContaining(failure));
  });

  it('matches the test vector of section 4.3 (128 bits of key data: the shortest wrapped key)', () => {
    const short = Buffer.from('64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7', 'hex');
    const data = keyData.subarray(0, 16);
    expect(wrapKey(kek, data).toString('hex')).toBe(short.toString('hex'));
    expect(unwrapKey(kek, short, 'secret API_KEY')).toEqual(data);
  });

  it.each<[string, number]>([
    ['an empty wrapped key', 0],
    ['8 bytes', 8],
    ['16 bytes', 16],
    ['23 bytes', 23],
  ])('refuses %s with DecryptionFailed, never an empty key', (_name, length) => {
    let thrown: unknown;
    try {
      unwrapKey(kek, expected.subarray(0, length), 'secret API_KEY');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DecryptionFailed);
    expect(thrown).toMatchObject(failure);
    // Refused by its length, before OpenSSL sees it.
    expect((thrown as Error).cause).toBeUndefined();
  });

  it('refuses a wrapped key that is not whole 8-byte blocks by its length, before OpenSSL sees it', () => {
    for (const length of [25, 31, 33, 39]) {
      let thrown: unknown;
      try {
        unwrapKey(kek, Buffer.alloc(length, 1), 'secret API_KEY');
      } catch (error) {
        thrown = error;
      }
      expect(thrown, String(length)).toMatchObject(failure);
      expect((thrown as Error).cause, String(length)).toBeUndefined();
    }
  });

  it('is misuse, not a decryption failure, to pass a KEK of the wrong size', () => {
    expect(() => wrapKey(kek.subarray(0, 16), keyData)).toThrow(
      expect.objectContaining({ name: 'TypeError', message: 'AES-256-KW needs a 32-byte KEK' }),
    );
    expect(() => unwrapKey(kek.subarray(0, 31), expected, 'x')).toThrow(
      expect.objectContaining({ name: 'TypeError', message: 'AES-256-KW needs a 32-byte KEK' }),
    );
  });

  it('refuses the wrong KEK with the same error', () => {
    expect(() => unwrapKey(randomBytes(32), expected, 'secret API_KEY')).toThrow(
      expect.objectContaining(failure),
    );
  });
});

describe('wipe', () => {
  it('zeroes buffers, skipping undefined', () => {
    const a = Buffer.from('secret');
    const b = new Uint8Array([1, 2, 3]);
    wipe(a, undefined, b);
    expect([...a, ...b].every((byte) => byte === 0)).toBe(true);
  });

  it('zeroes the key after use, also when the use throws', async () => {
    const key = Buffer.alloc(32, 9);
    await expect(
      withKey(key, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(key.every((byte) => byte === 0)).toBe(true);
  });
});
