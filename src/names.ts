/**
 * Validation of the names users give us: namespaces, secret names and values
 * (DESIGN, Data model). Messages quote the offending name but never a value.
 */
import { EggError } from './errors.js';

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const NAMESPACE_SEGMENT = /^[a-z0-9._-]{1,64}$/;

/** Values are bytes, up to 64 KiB. */
export const MAX_VALUE_BYTES = 64 * 1024;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function assertSecretName(name: string): void {
  if (!isSecretName(name)) {
    throw new EggError('ERR_INVALID_NAME', `invalid secret name ${quote(name)}`, {
      hint: 'a secret name is an environment variable name: a letter or _, then up to 127 letters, digits or _',
    });
  }
}

export function isNamespace(namespace: string): boolean {
  const segments = namespace.split('/');
  return (
    segments.length >= 1 &&
    segments.length <= 3 &&
    segments.every((s) => NAMESPACE_SEGMENT.test(s) && s !== '.' && s !== '..')
  );
}

export function assertNamespace(namespace: string): void {
  if (!isNamespace(namespace)) {
    throw new EggError('ERR_INVALID_NAMESPACE', `invalid namespace ${quote(namespace)}`, {
      hint: 'a namespace is 1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)',
    });
  }
}

export function assertValue(value: Uint8Array): void {
  if (value.byteLength > MAX_VALUE_BYTES) {
    throw new EggError(
      'ERR_INVALID_VALUE',
      `the value is ${value.byteLength} bytes; values are at most ${MAX_VALUE_BYTES} bytes (64 KiB)`,
    );
  }
}

/** Quote a user-supplied name for an error message: JSON-escaped and cut to 80 characters. */
function quote(name: string): string {
  const cut = name.length > 80 ? `${name.slice(0, 80)}…` : name;
  return JSON.stringify(cut);
}
