/**
 * Sealing for values that only ever live in this process's memory (the proxy's provider-key
 * cache, issue 9 item 5): AES-256-CTR (NIST SP 800-38A, section 6.5) under a key made for
 * the process, with a random 96-bit nonce per value and a 32-bit block counter: the same
 * keystream as `createCipheriv('aes-256-ctr', key, nonce ‖ 0x00000000)`.
 *
 * Why not AES-GCM as in `aead.ts`: opening a value happens on every proxied request, and a
 * cipher object per call costs about 14 µs (measured), most of the proxy's own budget. Here
 * one AES-256-ECB context is made once, and each open is one `update()` over the counter
 * blocks and an XOR: about 1 µs. There is no tag: what this defends is the secrecy of the
 * value in memory that leaks (a dump, a reused buffer), not its integrity; whoever can write
 * this process's memory controls the process anyway.
 */
import { type Cipheriv, createCipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { wipe } from './wipe.js';

const BLOCK = 16;
const NONCE_BYTES = 12;

/** A value sealed by a `MemorySeal`: never the plaintext. */
export interface MemorySealed {
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
}

export class MemorySeal {
  /** The process's key: in memory only, zeroed by `close()`. */
  readonly #key: Buffer;
  #ecb: Cipheriv | undefined;

  /** `key` (taken over, and zeroed at close): 32 bytes from the CSPRNG unless given (tests). */
  constructor(key: Buffer = randomFillSync(Buffer.alloc(32))) {
    if (key.length !== 32) throw new TypeError('a MemorySeal needs a 32-byte key');
    this.#key = key;
    this.#ecb = createCipheriv('aes-256-ecb', this.#key, null);
    this.#ecb.setAutoPadding(false);
  }

  /** Seal `value` under a fresh nonce; the caller still owns (and wipes) `value`. */
  seal(value: Uint8Array): MemorySealed {
    const nonce = randomBytes(NONCE_BYTES);
    return { nonce, ciphertext: this.#xor(value, nonce) };
  }

  /** The plaintext, in a Buffer of its own (not from Node's shared pool) for the caller to wipe. */
  open(sealed: MemorySealed): Buffer {
    return this.#xor(sealed.ciphertext, sealed.nonce);
  }

  /** Zero the key and end the context (OpenSSL cleanses its key schedule when it frees it). */
  close(): void {
    wipe(this.#key);
    this.#ecb?.final();
    this.#ecb = undefined;
  }

  #xor(input: Uint8Array, nonce: Buffer): Buffer {
    if (this.#ecb === undefined) throw new TypeError('this MemorySeal is closed');
    const blocks = Math.ceil(input.length / BLOCK);
    const counters = Buffer.allocUnsafeSlow(blocks * BLOCK);
    for (let block = 0; block < blocks; block++) {
      nonce.copy(counters, block * BLOCK);
      counters.writeUInt32BE(block, block * BLOCK + NONCE_BYTES);
    }
    const keystream = this.#ecb.update(counters);
    const out = Buffer.allocUnsafeSlow(input.length);
    for (let i = 0; i < input.length; i++) out[i] = (input[i] as number) ^ (keystream[i] as number);
    wipe(keystream);
    return out;
  }
}
