/**
 * The one error family of Egg Carton. Every operational failure is an `EggError` with a
 * stable `code`; the edges (CLI, Action) map codes to exit codes and hints. Caller misuse
 * of the library API stays a `TypeError`. Messages never carry a secret value.
 */

export type EggErrorCode =
  | 'ERR_INVALID_NAME'
  | 'ERR_INVALID_NAMESPACE'
  | 'ERR_INVALID_VALUE'
  | 'ERR_INVALID_CONFIG'
  | 'ERR_SECRET_NOT_FOUND'
  /** A read with `--strict` of a secret past its expiry (src/expiry.ts). */
  | 'ERR_SECRET_EXPIRED'
  | 'ERR_DECRYPTION_FAILED'
  | 'ERR_CONFLICT'
  | 'ERR_ACCESS_DENIED'
  | 'ERR_INSECURE_PERMISSIONS'
  | 'ERR_UNTRUSTED_CONFIG'
  | 'ERR_NOT_INITIALIZED'
  /** vault.db cannot be read as a database (truncated, overwritten): docs/local-vault.md. */
  | 'ERR_VAULT_DAMAGED'
  /** vault.db is missing or empty while the local kek exists. */
  | 'ERR_VAULT_MISSING'
  /** The local kek is missing while vault.db holds what was made with it. */
  | 'ERR_VAULT_KEY_MISSING'
  /** The local kek is not the key vault.db was created with. */
  | 'ERR_VAULT_KEY_MISMATCH'
  | 'ERR_STORE_UNAVAILABLE'
  /** The namespace holds nothing and never did (docs/namespaces.md). */
  | 'ERR_NAMESPACE_NOT_FOUND'
  /** No token with that id was minted in the namespace (`egg tokens rotate`). */
  | 'ERR_TOKEN_NOT_FOUND'
  /** The token is revoked, expired or already being revoked, so it cannot be rotated. */
  | 'ERR_TOKEN_NOT_ACTIVE'
  | 'ERR_KMS'
  | 'ERR_AUDIT_BROKEN'
  | 'ERR_USAGE'
  /** The user stopped at a prompt (Ctrl-C); the CLI exits 130, as a shell does on SIGINT. */
  | 'ERR_CANCELLED'
  | 'ERR_UNREPRESENTABLE_VALUE'
  | 'ERR_COMMAND_NOT_FOUND'
  | 'ERR_COMMAND_NOT_EXECUTABLE'
  | 'ERR_LOGIN_REQUIRED'
  /** The API refused a request's bearer token (src/api/jwt.ts): HTTP 401. */
  | 'ERR_UNAUTHENTICATED'
  /** The API refused a caller over its limit of calls (src/api/throttle.ts): HTTP 429. */
  | 'ERR_RATE_LIMITED'
  | 'ERR_OIDC';

/** An operational failure with a stable code, safe to show to the user. */
export class EggError extends Error {
  readonly code: EggErrorCode;
  /** A next step for the user, shown by the CLI after the message. */
  readonly hint: string | undefined;

  constructor(code: EggErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EggError';
    this.code = code;
    this.hint = options.hint;
  }
}

/**
 * Every failed decryption looks the same: a bad tag, a wrong key, a moved item or KMS
 * refusing a ciphertext all produce this error, so a caller learns nothing about which.
 */
export class DecryptionFailed extends EggError {
  constructor(what: string, cause?: unknown) {
    super(
      'ERR_DECRYPTION_FAILED',
      `could not decrypt ${what}: the item is corrupt, was moved, or the key is wrong`,
      {
        cause,
      },
    );
    this.name = 'DecryptionFailed';
  }
}

/**
 * A store this process opened can no longer be trusted: its file was deleted or replaced,
 * its revocation state went backwards, or it cannot be written. Unlike a store that is
 * merely unreachable, this does not heal: the proxy refuses every request until it is
 * restarted (docs/tokens.md, "When the store under the proxy changes").
 */
export class StoreUnusable extends EggError {
  constructor(message: string, hint: string) {
    super('ERR_STORE_UNAVAILABLE', message, { hint });
    this.name = 'StoreUnusable';
  }
}

/** An error's code (ours, or a system error's) or else its name: what a log line may say of it, never its message. */
export function errorLabel(error: unknown): string {
  return (error as { code?: string }).code ?? (error as { name?: string }).name ?? 'Error';
}

export function isEggError(error: unknown, code?: EggErrorCode): error is EggError {
  return error instanceof EggError && (code === undefined || error.code === code);
}
