/**
 * The `shell` format: `export NAME='value'` lines for POSIX `sh` (`. FILE` or
 * `eval "$(egg secrets pull --format shell)"`). Inside single quotes every byte is
 * literal (POSIX.1-2017 XCU 2.2.2), so any value round-trips, including non-UTF-8 bytes;
 * a `'` is closed, escaped and reopened as `'\''`. Only NUL cannot live in a shell
 * variable, so a value holding one is refused.
 */
import { type ByteWriter, NUL, rawInstead, SINGLE_QUOTE, unrepresentable } from './bytes.js';

export function writeShell(name: string, value: Buffer, out: ByteWriter): void {
  if (value.includes(NUL)) {
    throw unrepresentable(name, 'contains a NUL byte, which a shell variable cannot carry', rawInstead(name));
  }
  out.ascii(`export ${name}='`);
  let start = 0;
  for (let i = value.indexOf(SINGLE_QUOTE); i !== -1; i = value.indexOf(SINGLE_QUOTE, start)) {
    out.bytes(value, start, i);
    out.ascii(`'\\''`);
    start = i + 1;
  }
  out.bytes(value, start);
  out.ascii(`'\n`);
}
