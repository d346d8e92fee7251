/**
 * Sealing a provider key in the browser (the sealed format, docs/sealing.md): a fresh
 * AES-256-GCM data key encrypts the key, with `egg-seal:v1:<namespace>/<name>` as additional
 * data; the namespace's RSA-OAEP-256 public key wraps the data key; only the blob leaves.
 * The data key is a local of this function and is never exported but wrapped.
 */

export interface SealingKey {
  kid: string;
  /** SPKI DER, base64url. */
  spki: string;
}

export interface SealedBlob {
  v: 1;
  alg: 'RSA-OAEP-256+A256GCM';
  kid: string;
  wrappedKey: string;
  iv: string;
  ciphertext: string;
}

function toBase64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export async function sealInBrowser(
  namespace: string,
  name: string,
  plaintext: Uint8Array<ArrayBuffer>,
  key: SealingKey,
): Promise<SealedBlob> {
  const subtle = crypto.subtle;
  const wrapping = await subtle.importKey(
    'spki',
    fromBase64url(key.spki),
    { name: 'RSA-OAEP', hash: 'SHA-256' },
    false,
    ['wrapKey'],
  );
  // Extractable only so that wrapKey may export it, wrapped; nothing else reads it.
  const dataKey = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(`egg-seal:v1:${namespace}/${name}`) },
    dataKey,
    plaintext,
  );
  const wrappedKey = await subtle.wrapKey('raw', dataKey, wrapping, { name: 'RSA-OAEP' });
  return {
    v: 1,
    alg: 'RSA-OAEP-256+A256GCM',
    kid: key.kid,
    wrappedKey: toBase64url(wrappedKey),
    iv: toBase64url(iv),
    ciphertext: toBase64url(ciphertext),
  };
}
