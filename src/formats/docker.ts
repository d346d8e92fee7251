/**
 * The `docker` format: `NAME=value` lines for `docker run --env-file`. Docker reads the
 * value literally (docker/cli `pkg/kvfile`, formerly `opts/file.go`): the line is split at
 * the first `=`, nothing is unquoted or unescaped, and whitespace in the value is kept. So
 * a value is written as is, and refused when that reading would not give it back:
 * - a line feed ends the line, and a carriage return before it is dropped (Go's
 *   `bufio.ScanLines`); a carriage return elsewhere is kept;
 * - the file must be valid UTF-8;
 * - a line is at most `bufio.MaxScanTokenSize` (64 KiB) including its newline;
 * - a NUL byte cannot reach the container's environment;
 * - a value that starts and ends with the same quote character (`'…'`, `"…"`) is read
 *   literally today, but stripping those quotes is proposed (docker/cli#3630, #6805), so
 *   its meaning would depend on the docker version.
 */
import {
  type ByteWriter,
  CR,
  DOUBLE_QUOTE,
  isUtf8,
  LF,
  NUL,
  rawInstead,
  SINGLE_QUOTE,
  unrepresentable,
} from './bytes.js';

/** `bufio.MaxScanTokenSize`: the longest line docker's scanner accepts, newline included. */
export const DOCKER_MAX_LINE_BYTES = 64 * 1024;

export function writeDocker(name: string, value: Buffer, out: ByteWriter): void {
  const instead = 'use --format json or dotenv';
  const refuse = (reason: string, alternative = instead) => unrepresentable(name, reason, alternative);
  if (!isUtf8(value)) throw refuse('is not valid UTF-8, which docker --env-file refuses', rawInstead(name));
  if (value.includes(NUL)) {
    throw refuse('contains a NUL byte, which an environment variable cannot carry', rawInstead(name));
  }
  if (value.includes(LF)) throw refuse('contains a line break, which docker --env-file cannot carry');
  if (value.length > 0 && value[value.length - 1] === CR) {
    throw refuse('ends with a carriage return, which docker --env-file drops');
  }
  const first = value[0];
  if (
    value.length >= 2 &&
    (first === SINGLE_QUOTE || first === DOUBLE_QUOTE) &&
    value[value.length - 1] === first
  ) {
    throw refuse(
      'starts and ends with the same quote character, which docker versions may read differently (docker/cli#3630)',
    );
  }
  const lineBytes = name.length + 1 + value.length + 1;
  if (lineBytes > DOCKER_MAX_LINE_BYTES) {
    throw refuse(`is too long for docker --env-file, whose lines are at most ${DOCKER_MAX_LINE_BYTES} bytes`);
  }
  out.ascii(`${name}=`);
  out.bytes(value);
  out.byte(LF);
}
