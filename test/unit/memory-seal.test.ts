/**
 * The proxy's in-memory seal (src/crypto/memory-seal.ts): CTR mode built on one reused
 * AES-256-ECB context must be exactly OpenSSL's AES-256-CTR, use a fresh nonce per value,
 * and be unusable (its key zeroed) after close.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { MemorySeal } from '../../src/crypto/memory-seal.js';

/** Every buffer `wipe` was given, with its bytes as they were just before. */
const wiped = vi.hoisted(() => [] as { buffer: Uint8Array; before: Buffer }[]);
vi.mock('../../src/crypto/wipe.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/crypto/wipe.js')>();
  return {
    ...original,
    wipe: (...buffers: (Uint8Array | undefined)[]) => {
      for (const buffer of buffers) if (buffer) wiped.push({ buffer, before: Buffer.from(buffer) });
      original.wipe(...buffers);
    },
  };
});

describe('memory seal', () => {
  it.each([0, 1, 15, 16, 17, 47, 64 * 1024])(
    'is AES-256-CTR (nonce, then a 32-bit counter from 0) for a %i-byte value, and opens it back',
    (size) => {
      const key = randomBytes(32);
      const seal = new MemorySeal(Buffer.from(key));
      const value = randomBytes(size);
      const sealed = seal.seal(value);
      expect(sealed.nonce).toHaveLength(12);
      const reference = createCipheriv('aes-256-ctr', key, Buffer.concat([sealed.nonce, Buffer.alloc(4)]));
      expect(sealed.ciphertext.equals(Buffer.concat([reference.update(value), reference.final()]))).toBe(
        true,
      );
      expect(seal.open(sealed).equals(value)).toBe(true);
      seal.close();
    },
  );

  it('never reuses a nonce for a value, and refuses to open once closed, with its key zeroed', () => {
    const key = randomBytes(32);
    const seal = new MemorySeal(key);
    const a = seal.seal(Buffer.from('same value'));
    const b = seal.seal(Buffer.from('same value'));
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    seal.close();
    expect(key.equals(Buffer.alloc(32))).toBe(true);
    expect(() => seal.open(a)).toThrow(new TypeError('this MemorySeal is closed'));
  });

  it('is misuse to give a key that is not 32 bytes', () => {
    for (const size of [0, 16, 31, 33])
      expect(() => new MemorySeal(Buffer.alloc(size))).toThrow(
        new TypeError('a MemorySeal needs a 32-byte key'),
      );
  });

  it('can be closed twice', () => {
    const seal = new MemorySeal();
    seal.close();
    expect(() => seal.close()).not.toThrow();
    expect(() => seal.seal(Buffer.from('x'))).toThrow(new TypeError('this MemorySeal is closed'));
  });

  it('zeroes the keystream of each open, which XORed with the ciphertext would give the value', () => {
    const seal = new MemorySeal();
    const value = Buffer.from('a provider key, 33 bytes long....');
    const sealed = seal.seal(value);
    wiped.length = 0;
    const opened = seal.open(sealed);
    expect(opened.equals(value)).toBe(true);
    const keystream = Buffer.from(sealed.ciphertext.map((byte, i) => byte ^ (value[i] as number)));
    const wipedKeystream = wiped.find(({ before }) => before.subarray(0, value.length).equals(keystream));
    expect(wipedKeystream?.buffer.every((byte) => byte === 0)).toBe(true);
    seal.close();
  });
});
