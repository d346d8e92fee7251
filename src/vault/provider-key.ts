/**
 * What a provider key's value must be (issue 9, item 8). The proxy sends the key in a header
 * line exactly as stored (`Authorization: Bearer <key>`), and a header value cannot start or
 * end with whitespace or hold control characters (RFC 9110 §5.5), so such a key could only be
 * "fixed" (trimmed: not the stored value) or refused on every request. The vault refuses it
 * when it is stored instead, where its owner can act: an empty value, or one with the
 * newline that `echo` and `<<<` add, is a mistake, not a key.
 */
import { EggError } from '../errors.js';

/** Visible ASCII, at least one character: what a header carries unchanged. */
const SENDABLE = /^[\x21-\x7e]+$/;

/** Whether `key` (its bytes as latin1) can be sent in a header exactly as it is. */
export function isSendableProviderKey(key: string): boolean {
  return SENDABLE.test(key);
}

/** Why `value` cannot be a provider key, or undefined when it can. Never quotes the value. */
export function providerKeyProblem(value: Uint8Array): string | undefined {
  const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  if (SENDABLE.test(text)) return undefined;
  if (text.length === 0) return 'is empty';
  if (/^\s|\s$/.test(text))
    return 'starts or ends with whitespace (the newline that echo or <<< adds is stored too)';
  return 'holds a character a header cannot carry (a space, a control character, or a non-ASCII byte)';
}

/**
 * Refuse to store `value` as the provider key `name`.
 * @example assertProviderKey('OPENAI_KEY', Buffer.from('sk-…\n')) // throws ERR_INVALID_VALUE
 */
export function assertProviderKey(name: string, value: Uint8Array): void {
  const problem = providerKeyProblem(value);
  if (problem === undefined) return;
  throw new EggError(
    'ERR_INVALID_VALUE',
    `${name} is a provider key, sent as it is in a header, and its value ${problem}; nothing was stored`,
    {
      hint: `store the key exactly, with no newline: egg secrets set ${name} --upstream … and type it at the prompt, or add --from-env VAR`,
    },
  );
}
