/**
 * Reading the `pull` formats back (`egg secrets import`): `dotenv` as the `dotenv` npm
 * package's parser reads it, `json` (one flat object of strings, and of `{"base64": "…"}`
 * for bytes that are not UTF-8: json.ts), and `docker` as
 * `docker --env-file` reads it, so what `pull` writes reads back byte for byte. A file that
 * does not say its format is detected: `{` opens JSON; a file that reads the same both ways
 * is dotenv; one holding a value wrapped in quotes as docker reads it is dotenv (`pull`
 * never writes one for docker, and quotes most dotenv values); anything else
 * must be named with `--format`. Errors name the line or the secret, never a value.
 */
import { EggError } from '../errors.js';
import { isUtf8 } from './bytes.js';
import { BASE64_KEY } from './json.js';

export const IMPORT_FORMATS = ['dotenv', 'json', 'docker'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export interface ParsedSecret {
  name: string;
  /** The plaintext; the caller wipes it when done. */
  value: Buffer;
}

/** `file` read in `format` (detected when undefined), in file order. */
export function parseSecrets(
  file: Buffer,
  format?: ImportFormat,
): { format: ImportFormat; secrets: ParsedSecret[] } {
  if (!isUtf8(file)) throw unreadable('is not valid UTF-8, which none of dotenv, json or docker files is');
  const chosen = format ?? detectFormat(file);
  const pairs =
    chosen === 'json' ? parseJson(file) : chosen === 'docker' ? parseDocker(file) : parseDotenv(file).pairs;
  const seen = new Set<string>();
  for (const [name] of pairs) {
    if (seen.has(name)) throw unreadable(`sets ${name} twice`);
    seen.add(name);
  }
  return {
    format: chosen,
    secrets: pairs.map(([name, value]) => ({
      name,
      value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
    })),
  };
}

/** The format of `file`, or ERR_USAGE asking for `--format` when dotenv and docker would read it differently. */
export function detectFormat(file: Buffer): ImportFormat {
  // JavaScript's \s includes U+FEFF, so a leading BOM needs no removal here.
  if (/^\s*[{[]/.test(file.toString('utf8'))) return 'json';
  const dotenv = parseDotenv(file);
  let docker: [string, string][];
  try {
    docker = parseDocker(file);
  } catch {
    return 'dotenv';
  }
  const same =
    docker.length === dotenv.pairs.length &&
    docker.every(([name, value], i) => dotenv.pairs[i]?.[0] === name && dotenv.pairs[i]?.[1] === value);
  // `pull --format docker` never writes a value wrapped in one quote character (docker/cli#3630).
  if (same || docker.some(([, value]) => /^(['"])[\s\S]*\1$/.test(value))) return 'dotenv';
  throw new EggError(
    'ERR_USAGE',
    'this file reads differently as a dotenv file and as a docker env-file, so egg will not guess',
    { hint: 'say which with --format dotenv or --format docker' },
  );
}

/**
 * The `dotenv` package's parser (`LINE` and `parse` in lib/main.js, v16 to v18, BSD-2-Clause,
 * Copyright (c) 2015 Scott Motte), kept as it is so it reads exactly what it reads; a later
 * assignment of a name replaces an earlier one there, and is refused here.
 */
const LINE =
  /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;

function parseDotenv(file: Buffer): { pairs: [string, string][] } {
  const lines = file.toString('utf8').replace(/\r\n?/gm, '\n');
  const pairs: [string, string][] = [];
  LINE.lastIndex = 0;
  for (let match = LINE.exec(lines); match !== null; match = LINE.exec(lines)) {
    const name = match[1] as string;
    let value = (match[2] ?? '').trim();
    const maybeQuote = value[0];
    value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
    if (maybeQuote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    pairs.push([name, value]);
  }
  return { pairs };
}

/**
 * docker/cli `pkg/kvfile` parseKeyValueFile: lines split at `\n` (one trailing `\r`
 * dropped, at most 64 KiB with the newline), a BOM trimmed from line 1, leading white space
 * trimmed, blank and `#` lines skipped, split at the first `=`, the value kept as it is. A
 * line without `=` takes the variable from docker's environment: refused here.
 */
function parseDocker(file: Buffer): [string, string][] {
  const pairs: [string, string][] = [];
  // The empty string after a final newline is a blank line, skipped like any other.
  const lines = file.toString('utf8').split('\n');
  lines.forEach((raw, index) => {
    if (Buffer.byteLength(raw) + 1 > 64 * 1024)
      throw unreadable(`line ${index + 1} is longer than docker reads (64 KiB)`);
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (index === 0 && text.startsWith('\ufeff')) text = text.slice(1);
    // \x0b, not \v: Stryker's regex mutator turns \v into \V, which a /u pattern rejects.
    text = text.replace(
      // eslint-disable-next-line no-control-regex -- Go's unicode.IsSpace includes \v (U+000B)
      /^[\t\n\x0b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u,
      '',
    );
    if (text.length === 0 || text.startsWith('#')) return;
    const eq = text.indexOf('=');
    if (eq === -1)
      throw unreadable(
        `line ${index + 1} has no "=": docker would take that variable from its own environment`,
      );
    const name = text.slice(0, eq);
    if (name.length === 0 || /[ \t]/.test(name))
      throw unreadable(`line ${index + 1} has no valid variable name`);
    pairs.push([name, text.slice(eq + 1)]);
  });
  return pairs;
}

/** One flat JSON object whose every value is a string or `{"base64": "…"}` (what `pull --format json` writes). */
function parseJson(file: Buffer): [string, string | Buffer][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(file.toString('utf8').replace(/^\ufeff/, ''));
  } catch (error) {
    throw unreadable('is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw unreadable('is not one JSON object of names to strings');
  return Object.entries(parsed).map(([name, value]) => {
    if (typeof value === 'string') return [name, value];
    const bytes = fromBase64(value);
    if (bytes === undefined)
      throw unreadable(
        `gives ${name} ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a string or {"${BASE64_KEY}": "…"}`,
      );
    return [name, bytes];
  });
}

/** The bytes of `{"base64": "…"}` in canonical padded base64, or undefined for anything else. */
function fromBase64(value: unknown): Buffer | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  const text = (value as Record<string, unknown>)[BASE64_KEY];
  if (keys.length !== 1 || typeof text !== 'string') return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function unreadable(what: string): EggError {
  return new EggError('ERR_USAGE', `the file ${what}`);
}
