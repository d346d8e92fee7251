/**
 * The `egg secrets pull` output formats: `dotenv`, `json`, `shell` and `docker`. Each one
 * gives back every value byte for byte through the tool that reads it (the `dotenv` npm
 * parser, `JSON.parse`, POSIX `sh`, `docker --env-file`), or refuses the value with an
 * `EggError` (`ERR_UNREPRESENTABLE_VALUE`) that names the secret, says why, and suggests a
 * format that can carry it; with `skip`, that value is left out instead and the rest
 * written. JSON carries every value (bytes that are not UTF-8 as base64: json.ts). Messages
 * never include a value.
 *
 * @example
 * const out = formatSecrets([{ name: 'API_KEY', value: Buffer.from('s3cr3t') }], 'shell');
 * // out: "export API_KEY='s3cr3t'\n" (bytes; the caller wipes it when done)
 */
import { assertSecretName } from '../names.js';
import { ByteWriter, Unrepresentable } from './bytes.js';
import { writeDocker } from './docker.js';
import { writeDotenv } from './dotenv.js';
import { writeJson, writeJsonEnd, writeJsonStart } from './json.js';
import { writeShell } from './shell.js';

export { DOCKER_MAX_LINE_BYTES } from './docker.js';

export const FORMATS = ['dotenv', 'json', 'shell', 'docker'] as const;
export type Format = (typeof FORMATS)[number];

export interface FormattableSecret {
  readonly name: string;
  readonly value: Uint8Array;
}

export interface FormatOptions {
  /** Leave out each value the format cannot carry, handing its refusal here; without it, such a value refuses the whole output. */
  skip?: (refusal: Unrepresentable) => void;
}

export function isFormat(format: string): format is Format {
  return (FORMATS as readonly string[]).includes(format);
}

/**
 * Render `secrets` in `format`, in the order given. Throws `ERR_INVALID_NAME` for a name
 * that is not an environment variable name, `ERR_UNREPRESENTABLE_VALUE` for a value the
 * format cannot carry (unless `options.skip`), and `TypeError` for an unknown format or a
 * repeated name. The result holds plaintext: wipe it.
 */
export function formatSecrets(
  secrets: readonly FormattableSecret[],
  format: Format,
  options: FormatOptions = {},
): Buffer {
  if (!isFormat(format)) throw new TypeError(`unknown format ${JSON.stringify(format)}`);
  const seen = new Set<string>();
  for (const { name } of secrets) {
    assertSecretName(name);
    if (seen.has(name)) throw new TypeError(`secret ${name} is given twice`);
    seen.add(name);
  }
  const out = new ByteWriter(secrets.reduce((sum, s) => sum + s.name.length + s.value.length + 16, 16));
  try {
    if (format === 'json') writeJsonStart(out, secrets.length);
    // JSON carries every value, so the index of what is written is the index given.
    secrets.forEach(({ name, value: bytes }, index) => {
      const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      try {
        // Each writer refuses before it writes anything of the value.
        if (format === 'dotenv') writeDotenv(name, value, out);
        else if (format === 'shell') writeShell(name, value, out);
        else if (format === 'docker') writeDocker(name, value, out);
        else writeJson(name, value, out, index);
      } catch (error) {
        if (options.skip === undefined || !(error instanceof Unrepresentable)) throw error;
        options.skip(error);
      }
    });
    if (format === 'json') writeJsonEnd(out, secrets.length);
  } catch (error) {
    out.result().fill(0);
    throw error;
  }
  return out.result();
}
