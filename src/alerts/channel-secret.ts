/**
 * A webhook channel's HMAC secret at rest: sealed as a secret value is (DESIGN, Crypto), with
 * a fresh data key from the namespace's keyring and AES-256-GCM, bound to the namespace and
 * the channel id, so a sealed secret copied to another channel does not open.
 */
import { randomBytes } from 'node:crypto';
import { decrypt, encrypt } from '../crypto/aead.js';
import { wipe } from '../crypto/wipe.js';
import type { Keyring } from '../keyrings/keyring.js';

/** What the channel's row keeps: JSON of base64 fields. */
interface SealedSecret {
  keyId: string;
  wrapped: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

/**
 * A new webhook secret: `whsec_` and 32 random bytes, base64url. The HMAC key is the whole
 * string's bytes, so a receiver uses the string as it was shown.
 */
export function newWebhookSecret(): Buffer {
  return Buffer.from(`whsec_${randomBytes(32).toString('base64url')}`);
}

/** Whether `text` has the form `newWebhookSecret` makes: `whsec_` and 43 base64url characters. */
export function isWebhookSecret(text: string): boolean {
  return /^whsec_[A-Za-z0-9_-]{43}$/.test(text);
}

function context(namespace: string, channelId: string) {
  return { namespace, secret: `alerts/webhook/${channelId}` };
}

function aad(namespace: string, channelId: string): Buffer {
  return Buffer.from(JSON.stringify(['egg/alert-channel/v1', namespace, channelId]));
}

export async function sealChannelSecret(
  keyring: Keyring,
  namespace: string,
  channelId: string,
  secret: Buffer,
): Promise<string> {
  const key = await keyring.generate(context(namespace, channelId));
  try {
    const sealed = encrypt(key.plaintext, secret, aad(namespace, channelId));
    const stored: SealedSecret = {
      keyId: key.keyId,
      wrapped: key.wrapped.toString('base64'),
      iv: sealed.iv.toString('base64'),
      ciphertext: sealed.ciphertext.toString('base64'),
      tag: sealed.tag.toString('base64'),
    };
    return JSON.stringify(stored);
  } finally {
    wipe(key.plaintext);
  }
}

/** The secret's bytes (the caller wipes them), or `DecryptionFailed`. */
export async function openChannelSecret(
  keyring: Keyring,
  namespace: string,
  channelId: string,
  sealedText: string,
): Promise<Buffer> {
  const s = JSON.parse(sealedText) as SealedSecret;
  const key = await keyring.unwrap(Buffer.from(s.wrapped, 'base64'), s.keyId, context(namespace, channelId));
  try {
    return decrypt(
      key,
      {
        iv: Buffer.from(s.iv, 'base64'),
        ciphertext: Buffer.from(s.ciphertext, 'base64'),
        tag: Buffer.from(s.tag, 'base64'),
      },
      aad(namespace, channelId),
      `the secret of alert channel ${channelId}`,
    );
  } finally {
    wipe(key);
  }
}
