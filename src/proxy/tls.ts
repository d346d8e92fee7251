/**
 * TLS for `egg proxy serve --tls-cert FILE --tls-key FILE` (DESIGN, Contracts: Proxy
 * requests; issue 9, item 7): the files are read and checked once at start, so a bad one is
 * one sentence naming it, not a failed handshake later.
 *
 * - TLS 1.3 only by default; `--tls-min 1.2` adds TLS 1.2 with ECDHE and AEAD ciphers only
 *   (Mozilla's "intermediate" list), never CBC, RSA key exchange or anything older.
 * - The key file must be a regular file owned by the user running the proxy with no access
 *   for group or others (0600, 0400), or owned by root and readable by its group at most
 *   (0640, 0440: a key shared with a service group, as PostgreSQL allows for its own key).
 *   Anything looser is refused, like `ssh` refuses a private key others can read. Symlinks
 *   are followed (mounted secrets are usually links); their target is what is checked.
 * - The certificate must parse, match the key and not have expired.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { EggError } from '../errors.js';

/** What the CLI passes: the files, and the oldest version to accept. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Default '1.3'. */
  minVersion?: '1.2' | '1.3';
}

/** What the server is built with. `key` holds the private key: wipe it once the server exists. */
export interface TlsSettings {
  cert: Buffer;
  key: Buffer;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers: string;
}

/**
 * TLS 1.3 suites (all AEAD), then the TLS 1.2 ones with ECDHE and AEAD only (Mozilla
 * "intermediate", https://wiki.mozilla.org/Security/Server_Side_TLS).
 */
const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** A PEM file larger than this is not a certificate chain or a key. */
const MAX_PEM_BYTES = 1024 * 1024;

/** Read and check the certificate and key files; throws an `EggError` naming the file at fault. */
export function readTlsFiles(files: TlsFiles, now: () => number = Date.now): TlsSettings {
  const cert = readPem(files.certFile, '--tls-cert', false);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new EggError('ERR_INVALID_CONFIG', `--tls-cert ${files.certFile} is not a PEM certificate`, {
      cause: error,
      hint: 'give the server certificate (and its chain) in PEM form, starting with -----BEGIN CERTIFICATE-----',
    });
  }
  const key = readPem(files.keyFile, '--tls-key', true);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (error) {
    key.fill(0);
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `--tls-key ${files.keyFile} is not an unencrypted PEM private key`,
      {
        cause: error,
        hint: 'give the private key of the certificate in PEM form, without a passphrase',
      },
    );
  }
  if (!x509.checkPrivateKey(keyObject)) {
    key.fill(0);
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `--tls-key ${files.keyFile} is not the private key of the certificate in --tls-cert ${files.certFile}`,
      { hint: 'give the key the certificate was issued for' },
    );
  }
  if (Date.parse(x509.validTo) <= now()) {
    key.fill(0);
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `the certificate in --tls-cert ${files.certFile} expired on ${new Date(x509.validTo).toISOString()}`,
      { hint: 'renew it and start the proxy again' },
    );
  }
  return {
    cert,
    key,
    minVersion: files.minVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
    ciphers: CIPHERS,
  };
}

/** Read a PEM file: a regular file (a FIFO would block), bounded, and for a key, private. */
function readPem(path: string, flag: string, secret: boolean): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the check below refuses it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new EggError('ERR_INVALID_CONFIG', `${flag} ${path} cannot be read (${code})`, {
      cause: error,
      hint: 'check the path and that the user running the proxy may read it',
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > MAX_PEM_BYTES) {
      throw new EggError('ERR_INVALID_CONFIG', `${flag} ${path} is not a regular PEM file`, {
        hint: 'give the PEM file itself (not a directory, a device or a pipe)',
      });
    }
    if (secret) assertPrivateKeyFile(path, flag, stat);
    const data = Buffer.alloc(stat.size);
    let read = 0;
    while (read < data.length) {
      const n = readSync(fd, data, read, data.length - read, null);
      if (n === 0) break;
      read += n;
    }
    return read === data.length ? data : data.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function assertPrivateKeyFile(path: string, flag: string, stat: { uid: number; mode: number }): void {
  const me = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (me === undefined) return;
  const mode = stat.mode & 0o777;
  const text = mode.toString(8).padStart(4, '0');
  // Owned by us: nobody else. Owned by root: its group may read, nobody else (PostgreSQL's rule).
  const allowed = (stat.uid === me && (mode & 0o077) === 0) || (stat.uid === 0 && (mode & 0o037) === 0);
  if (allowed) return;
  if (stat.uid !== me && stat.uid !== 0) {
    throw new EggError(
      'ERR_INSECURE_PERMISSIONS',
      `${flag} ${path} belongs to another user (uid ${stat.uid}); refusing a private key someone else controls`,
      { hint: `make it yours (chown ${me} ${path}) or root's, and chmod 600 ${path}` },
    );
  }
  throw new EggError(
    'ERR_INSECURE_PERMISSIONS',
    `${flag} ${path} is open to other users (mode ${text}); refusing to use a private key others can read`,
    { hint: `run chmod 600 ${path} (or, owned by root and shared with a group, chmod 640)` },
  );
}
