/** Zeroing of plaintext key material once it is no longer needed. */

/** Overwrite every byte with zero. Safe to call on an already-wiped or empty buffer. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

/** Run `use(key)` and zero `key` afterwards, whatever happens. */
export async function withKey<T>(key: Buffer, use: (key: Buffer) => Promise<T> | T): Promise<T> {
  try {
    return await use(key);
  } finally {
    key.fill(0);
  }
}
