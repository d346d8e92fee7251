/**
 * The `json` format: one object, `{"NAME": "value", ...}`, keys in the order given, two
 * spaces of indentation and a final newline. Strings are escaped byte by byte exactly as
 * `JSON.stringify` escapes them (RFC 8259 section 7: `"`, `\` and the C0 controls), so the
 * value never becomes a JavaScript string.
 *
 * JSON text is Unicode, so a value that is not valid UTF-8 is written as an object holding
 * its bytes in padded base64 (RFC 4648 section 4): `"NAME": {"base64": "…"}`. No string
 * can be mistaken for it; a reader expecting only strings fails on it instead of reading
 * other bytes; `egg secrets import` reads it back to the exact bytes (parse.ts), and `jq -r
 * '.NAME.base64 | @base64d'` does too.
 */
import { BACKSLASH, type ByteWriter, DOUBLE_QUOTE, isUtf8 } from './bytes.js';

/** The one key of the object that carries a value's bytes as base64. */
export const BASE64_KEY = 'base64';
const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const PAD = 0x3d;

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  8: '\\b',
  9: '\\t',
  10: '\\n',
  12: '\\f',
  13: '\\r',
  [DOUBLE_QUOTE]: '\\"',
  [BACKSLASH]: '\\\\',
};

export function writeJsonStart(out: ByteWriter, count: number): void {
  out.ascii(count === 0 ? '{' : '{\n');
}

export function writeJson(name: string, value: Buffer, out: ByteWriter, index: number): void {
  out.ascii(`${index === 0 ? '' : ',\n'}  ${JSON.stringify(name)}: `);
  if (!isUtf8(value)) {
    out.ascii(`{"${BASE64_KEY}": "`);
    writeBase64(value, out);
    out.ascii('"}');
    return;
  }
  out.byte(DOUBLE_QUOTE);
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const byte = value[i]!;
    if (byte >= 0x20 && byte !== DOUBLE_QUOTE && byte !== BACKSLASH) continue;
    out.bytes(value, start, i);
    out.ascii(SHORT_ESCAPES[byte] ?? `\\u${byte.toString(16).padStart(4, '0')}`);
    start = i + 1;
  }
  out.bytes(value, start);
  out.byte(DOUBLE_QUOTE);
}

/** `value` in padded base64, written byte by byte (never a JavaScript string). */
export function writeBase64(value: Uint8Array, out: ByteWriter): void {
  for (let i = 0; i < value.length; i += 3) {
    const bits = (value[i]! << 16) | ((value[i + 1] ?? 0) << 8) | (value[i + 2] ?? 0);
    out.byte(ALPHABET[bits >> 18]!);
    out.byte(ALPHABET[(bits >> 12) & 63]!);
    out.byte(i + 1 < value.length ? ALPHABET[(bits >> 6) & 63]! : PAD);
    out.byte(i + 2 < value.length ? ALPHABET[bits & 63]! : PAD);
  }
}

export function writeJsonEnd(out: ByteWriter, count: number): void {
  out.ascii(count === 0 ? '}\n' : '\n}\n');
}
