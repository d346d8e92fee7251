/**
 * The real consumer of each `pull` format, as a function from the formatted bytes to what
 * that consumer reads back (name → bytes): POSIX `sh`, the `dotenv` npm parser (both of its
 * parsers), `JSON.parse`, and docker's `--env-file` reader transcribed line for line.
 */
import { isUtf8 } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dotenv from 'dotenv';
import type { Format } from '../../src/formats/index.js';

/** Readers for each format; `dir` is a scratch directory for the shell's files. */
export function formatReaders(dir: string): Record<Format, (output: Buffer) => Map<string, Buffer>> {
  return {
    shell: (output) => readWithSh(output, dir),
    dotenv: (output) => toBytes(dotenv.parse(output)),
    json: (output) => toBytes(JSON.parse(output.toString('utf8')) as Record<string, string>),
    docker: (output) => parseDockerEnvFile(output),
  };
}

/** The `dotenv` package's opt-in `fast` parser, which must read every file the same way. */
export function readWithFastDotenv(output: Buffer): Map<string, Buffer> {
  return toBytes(dotenv.parse(output, { fast: true }));
}

/** Strings as UTF-8, and `{"base64": "…"}` (json.ts) as the bytes it holds. */
function toBytes(record: Record<string, string | { base64: string }>): Map<string, Buffer> {
  return new Map(
    Object.entries(record).map(([k, v]) => [
      k,
      typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.base64, 'base64'),
    ]),
  );
}

/** Source the file in `sh` (dash here) with an empty environment and dump it with `env -0`. */
export function readWithSh(output: Buffer, dir: string): Map<string, Buffer> {
  const file = join(dir, `shell-${randomBytes(4).toString('hex')}.sh`);
  writeFileSync(file, output);
  const dump = execFileSync('/bin/sh', ['-c', '. "$1" && exec /usr/bin/env -0', 'sh', file], {
    env: {},
    maxBuffer: 64 * 1024 * 1024,
  });
  const vars = new Map<string, Buffer>();
  let start = 0;
  for (let end = dump.indexOf(0); end !== -1; start = end + 1, end = dump.indexOf(0, start)) {
    const entry = dump.subarray(start, end);
    const eq = entry.indexOf(0x3d);
    vars.set(entry.subarray(0, eq).toString('latin1'), entry.subarray(eq + 1));
  }
  vars.delete('PWD');
  vars.delete('OLDPWD');
  return vars;
}

/**
 * docker/cli `pkg/kvfile` parseKeyValueFile (v28; formerly `opts/file.go`), line for line:
 * `bufio.Scanner` lines (split at `\n`, one trailing `\r` dropped, at most 64 KiB with the
 * newline), invalid UTF-8 rejected, a BOM trimmed from line 1, leading `unicode.IsSpace`
 * trimmed, blank and `#` lines skipped, split at the first `=`, the value kept as is, and a
 * line without `=` taken from the environment (empty here).
 */
export function parseDockerEnvFile(file: Buffer): Map<string, Buffer> {
  const vars = new Map<string, Buffer>();
  const lines: Buffer[] = [];
  let start = 0;
  while (start < file.length) {
    let end = file.indexOf(0x0a, start);
    if (end === -1) end = file.length;
    if (end - start + 1 > 64 * 1024) throw new Error('bufio.Scanner: token too long');
    let line = file.subarray(start, end);
    if (line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    lines.push(line);
    start = end + 1;
  }
  lines.forEach((raw, index) => {
    if (!isUtf8(raw)) throw new Error(`invalid utf8 bytes at line ${index + 1}`);
    let text = raw.toString('utf8');
    if (index === 0 && text.startsWith('\ufeff')) text = text.slice(1);
    text = text.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u, '');
    if (text.length === 0 || text.startsWith('#')) return;
    const eq = text.indexOf('=');
    const key = eq === -1 ? text : text.slice(0, eq);
    if (key.length === 0) throw new Error('no variable name');
    if (/[ \t]/.test(key)) throw new Error(`variable '${key}' contains whitespaces`);
    if (eq !== -1) vars.set(key, Buffer.from(text.slice(eq + 1), 'utf8'));
  });
  return vars;
}
