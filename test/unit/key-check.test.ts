/**
 * The local KEK's key check value (docs/local-vault.md): HKDF-SHA256 (RFC 5869) of the
 * KEK with an empty salt and the info "egg-carton/v1/key-check-value", 32 bytes. Pinned by
 * a known answer, and recomputed here from the RFC's two HMAC steps so the pin is not
 * just whatever the code printed once.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyCheckValue, LocalKeyring } from '../../src/keyrings/local.js';

const KEK = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const KNOWN = 'ac1a4ada0dc48480bf5706c6f1415077c73c4ccdfa7907c42246ab5be01a0865';

/** RFC 5869 section 2.2 (extract, salt of HashLen zeros when absent) and 2.3 (expand, one block). */
function rfc5869(ikm: Buffer, info: string): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  return createHmac('sha256', prk)
    .update(Buffer.concat([Buffer.from(info), Buffer.from([1])]))
    .digest();
}

describe('the local key check value', () => {
  it('matches the known answer for the KEK 00 01 … 1f', () => {
    expect(keyCheckValue(KEK).toString('hex')).toBe(KNOWN);
    expect(rfc5869(KEK, 'egg-carton/v1/key-check-value').toString('hex')).toBe(KNOWN);
  });

  it('is what the keyring reports, and differs for another KEK', () => {
    const other = randomBytes(32);
    const keyring = new LocalKeyring(Buffer.from(other));
    expect(keyring.keyCheckValue()).toEqual(rfc5869(other, 'egg-carton/v1/key-check-value'));
    expect(keyring.keyCheckValue()).not.toEqual(keyCheckValue(KEK));
    keyring.close();
  });

  it('never contains the KEK or its key id', () => {
    const kcv = keyCheckValue(KEK);
    expect(kcv.includes(KEK.subarray(0, 8))).toBe(false);
    const keyring = new LocalKeyring(Buffer.from(KEK));
    expect(kcv.toString('hex')).not.toContain(keyring.keyId.slice('local:'.length));
    keyring.close();
  });

  it('refuses a KEK of the wrong size', () => {
    expect(() => keyCheckValue(Buffer.alloc(16))).toThrow(TypeError);
  });
});
