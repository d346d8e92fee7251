/**
 * The `json` format: one object, `{"NAME": "value", ...}`, keys in the order given, two
 * spaces of indentation and a final newline. Strings are escaped byte by byte exactly as
 * `JSON.stringify` escapes them (RFC 8259 section 7: `"`, `\` and the C0 controls), so the
 * value never becomes a JavaScript string. JSON text is Unicode, so a value that is not
 * valid UTF-8 is refused.
 */
import { BACKSLASH, type ByteWriter, DOUBLE_QUOTE, isUtf8, rawInstead, unrepresentable } from './bytes.js';

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
  if (!isUtf8(value)) {
    throw unrepresentable(name, 'is not valid UTF-8, which JSON text cannot carry', rawInstead(name));
  }
  out.ascii(`${index === 0 ? '' : ',\n'}  ${JSON.stringify(name)}: "`);
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

export function writeJsonEnd(out: ByteWriter, count: number): void {
  out.ascii(count === 0 ? '}\n' : '\n}\n');
}
