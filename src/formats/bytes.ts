/**
 * Byte-level helpers for the `pull` formats. Formats are built from the value's bytes
 * directly, so a plaintext never becomes a JavaScript string, and every buffer that held
 * part of the output is zeroed when it is outgrown.
 */
import { isUtf8 } from 'node:buffer';
import { EggError } from '../errors.js';

/** A growable output buffer that wipes each buffer it outgrows. */
export class ByteWriter {
  #buffer: Buffer;
  #length = 0;

  constructor(capacity = 256) {
    this.#buffer = Buffer.alloc(Math.max(16, capacity));
  }

  byte(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  bytes(source: Uint8Array, start = 0, end = source.length): void {
    this.#reserve(end - start);
    this.#buffer.set(source.subarray(start, end), this.#length);
    this.#length += end - start;
  }

  /** Syntax and names only: they are ASCII and never secret. */
  ascii(text: string): void {
    this.#reserve(text.length);
    this.#length += this.#buffer.write(text, this.#length, 'latin1');
  }

  /** The bytes written so far (a view: the caller wipes it when done). */
  result(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    const grown = Buffer.alloc(Math.max(this.#buffer.length * 2, this.#length + extra));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer.fill(0);
    this.#buffer = grown;
  }
}

export { isUtf8 };

/** Index of the first `byte` in `value` that is not preceded by a backslash, or -1. */
export function indexOfUnescaped(value: Uint8Array, byte: number): number {
  for (let i = value.indexOf(byte); i !== -1; i = value.indexOf(byte, i + 1)) {
    if (i === 0 || value[i - 1] !== BACKSLASH) return i;
  }
  return -1;
}

/** Whether `value` holds a backslash followed by one of `letters` (as in `\n`). */
export function hasBackslashBefore(value: Uint8Array, letters: readonly number[]): boolean {
  for (
    let i = value.indexOf(BACKSLASH);
    i !== -1 && i + 1 < value.length;
    i = value.indexOf(BACKSLASH, i + 1)
  ) {
    if (letters.includes(value[i + 1]!)) return true;
  }
  return false;
}

/** The code point that starts at byte `i` of valid UTF-8. */
export function codePointAt(value: Uint8Array, i: number): number {
  const b = value[i]!;
  const c = (k: number) => value[i + k]! & 0x3f;
  if (b < 0x80) return b;
  if (b < 0xe0) return ((b & 0x1f) << 6) | c(1);
  if (b < 0xf0) return ((b & 0x0f) << 12) | (c(1) << 6) | c(2);
  return ((b & 0x07) << 18) | (c(1) << 12) | (c(2) << 6) | c(3);
}

/** The code point that ends valid, non-empty UTF-8. */
export function lastCodePoint(value: Uint8Array): number {
  let i = value.length - 1;
  while (i > 0 && (value[i]! & 0xc0) === 0x80) i--;
  return codePointAt(value, i);
}

/** What JavaScript's `\s` and `String.prototype.trim` treat as white space (ECMA-262 WhiteSpace and LineTerminator). */
export function isJsWhitespace(codePoint: number): boolean {
  return (
    (codePoint >= 0x09 && codePoint <= 0x0d) ||
    codePoint === 0x20 ||
    codePoint === 0xa0 ||
    codePoint === 0x1680 ||
    (codePoint >= 0x2000 && codePoint <= 0x200a) ||
    codePoint === 0x2028 ||
    codePoint === 0x2029 ||
    codePoint === 0x202f ||
    codePoint === 0x205f ||
    codePoint === 0x3000 ||
    codePoint === 0xfeff
  );
}

/** A format's refusal of one value: it names the secret, says why and what to do instead, never the value. */
export class Unrepresentable extends EggError {
  constructor(
    readonly secret: string,
    readonly reason: string,
    readonly instead: string,
  ) {
    super('ERR_UNREPRESENTABLE_VALUE', `${secret} ${reason}; ${instead}`);
    this.name = 'Unrepresentable';
  }
}

/** The refusal every format gives for a value it cannot carry. */
export function unrepresentable(name: string, reason: string, instead: string): Unrepresentable {
  return new Unrepresentable(name, reason, instead);
}

/** The way out for a value no text format but JSON can carry. */
export function rawInstead(name: string): string {
  return `use --format json, or write it raw with \`egg secrets get ${name} > FILE\``;
}

/** Why a value is not `isEnvText`, as `leftOut` says it. */
export const NOT_ENV_TEXT = 'is not UTF-8 text without NUL bytes';

/** Whether an environment variable can carry `value` exactly: UTF-8 text without NUL. */
export function isEnvText(value: Uint8Array): boolean {
  return !value.includes(NUL) && isUtf8(value);
}

/**
 * The one warning for a secret left out because where it was going cannot carry it
 * (`egg run`, `egg secrets pull`, the Action): it names the secret, never the value.
 * @example leftOut('CERT', NOT_ENV_TEXT, "the command's environment")
 */
export function leftOut(name: string, why: string, where: string): string {
  return `${name} ${why}, so it was left out of ${where}`;
}

export const NUL = 0x00;
export const LF = 0x0a;
export const CR = 0x0d;
export const DOUBLE_QUOTE = 0x22;
export const HASH = 0x23;
export const SINGLE_QUOTE = 0x27;
export const BACKSLASH = 0x5c;
export const BACKTICK = 0x60;
