/**
 * The base of every `egg` command: the global flags, configuration, and the one place
 * errors become output. An `EggError` prints as one sentence (and its hint) on stderr and
 * exits 1, or 2 for a usage error (130 when cancelled at a prompt); no stack trace unless `EGG_DEBUG=1`.
 */
import { Command, Errors, Flags } from '@oclif/core';
import { type ConfigInput, type EggConfig, resolveConfig } from '../src/config.js';
import { EggError } from '../src/errors.js';
import { jsonLogger, type Logger } from '../src/log.js';
import type { Backend, BackendOptions } from '../src/backends/backend.js';
import { cliIdentity } from '../src/backends/identity.js';
import { anchorOn, openBackend, vaultOn } from '../src/backends/open-backend.js';
import { ANCHOR_HINT, openSession } from './session.js';
import type { TokensPort, VaultPort, VaultSession } from '../src/backends/vault-port.js';
import type { TokenSigner } from '../src/tokens/signer.js';
import type { PulledSecret, Vault } from '../src/vault/vault.js';
import { expiredError, expiredWarning, isExpired } from '../src/expiry.js';

const USAGE_CODES = new Set(['ERR_USAGE', 'ERR_INVALID_NAME', 'ERR_INVALID_NAMESPACE', 'ERR_INVALID_CONFIG']);

export abstract class EggCommand extends Command {
  static override baseFlags = {
    namespace: Flags.string({
      char: 'n',
      summary: 'Namespace to use (acme/web/prod). Default: EGG_NAMESPACE, .egg.json, or "default".',
      helpGroup: 'GLOBAL',
    }),
    backend: Flags.string({
      summary:
        'Where secrets live: "local" (SQLite under EGG_HOME), "aws" (DynamoDB + KMS) or "api" (the server at EGG_API_URL).',
      options: ['local', 'aws', 'api'],
      helpGroup: 'GLOBAL',
    }),
  };

  /** The API has no route for this command yet (rather than none it could have): its refusal says "yet". */
  static apiLater = false;

  #logger: Logger | undefined;

  /** Resolve configuration with the global flags on top. */
  protected eggConfig(
    flags: { namespace?: string | undefined; backend?: string | undefined } & ConfigInput,
  ): EggConfig {
    return resolveConfig({ flags });
  }

  protected get logger(): Logger {
    this.#logger ??= jsonLogger({ debug: process.env.EGG_DEBUG === '1' });
    return this.#logger;
  }

  /**
   * Open the backend as this user (an `egg login` session's credentials on aws, when there
   * is one; `actor` for the audit trail, the OS user by default), run `use`, and always
   * close it (wiping cached keys).
   */
  protected async withBackend<T>(
    config: EggConfig,
    use: (backend: Backend) => Promise<T>,
    options: Omit<BackendOptions, 'logger'> & { actor?: string } = {},
  ): Promise<T> {
    const { actor, ...backendOptions } = options;
    this.refuseApi(config);
    const identity = await cliIdentity(config, this.logger, actor);
    const backend = await openBackend(config, identity, { ...backendOptions, logger: this.logger });
    try {
      return await use(backend);
    } finally {
      await backend.close();
    }
  }

  /**
   * Warn on stderr for each expired secret that was read, or, under `strict`, wipe every
   * value read and refuse them all (`ERR_SECRET_EXPIRED`). The read itself was audited.
   */
  protected checkExpiry(secrets: readonly PulledSecret[], strict: boolean): void {
    const now = new Date();
    const expired = secrets.filter((secret) => isExpired(secret.expires, now));
    if (expired.length === 0) return;
    if (strict) {
      for (const secret of secrets) secret.value.fill(0);
      throw expiredError(expired.map((secret) => secret.name));
    }
    for (const secret of expired)
      process.stderr.write(`Warning: ${expiredWarning(secret.name, secret.expires as string, now)}\n`);
  }

  /** Refuse the api backend, for a command that opens a vault of its own (`withBackend` does). */
  protected refuseApi(config: EggConfig): void {
    if (config.backend !== 'api') return;
    const later = (this.constructor as typeof EggCommand).apiLater ? ' yet' : '';
    throw new EggError(
      'ERR_USAGE',
      `egg ${(this.id ?? 'this command').replaceAll(':', ' ')} is not available with the api backend${later}`,
      { hint: 'it opens a vault of its own: use --backend local or aws' },
    );
  }

  /**
   * The configured namespace's vault, tokens and namespaces (vault-port.ts), wherever the
   * vault is: opened here as this user (as `withBackend`), or on the API's server with the
   * api backend. Always closed after `use`.
   */
  protected async withSession<T>(
    config: EggConfig,
    use: (session: VaultSession) => Promise<T>,
    options: { create?: boolean } = {},
  ): Promise<T> {
    const identity = await cliIdentity(config, this.logger);
    const session = await openSession(config, identity, { ...options, logger: this.logger });
    try {
      return await use(session);
    } finally {
      await session.close();
    }
  }

  /** `withSession` with its vault: the secrets commands' way in. */
  protected async withSecrets<T>(
    config: EggConfig,
    use: (vault: VaultPort) => Promise<T>,
    options: { create?: boolean } = {},
  ): Promise<T> {
    return this.withSession(config, (session) => use(session.vault), options);
  }

  /** `withBackend` with the vault of the configured namespace (commands that need a vault of their own). */
  protected async withVault<T>(
    config: EggConfig,
    use: (vault: Vault, backend: Backend) => Promise<T>,
    options: Omit<BackendOptions, 'logger'> & { actor?: string } = {},
  ): Promise<T> {
    return this.withBackend(
      config,
      (backend) => use(vaultOn(backend, config, this.logger), backend),
      options,
    );
  }

  /** `withSession` with minting, listing, revocation and rotation in the configured namespace. */
  protected async withTokens<T>(config: EggConfig, use: (tokens: TokensPort) => Promise<T>): Promise<T> {
    return this.withSession(config, async (session) => use(await session.tokens()));
  }

  /**
   * The anchor key's signer for `vault`'s checkpoints: `EGG_HOME/anchor-key`, or the KMS key
   * `EGG_ANCHOR_KEY_ID`, on the vault's own backend. The local key is created only for a
   * trail with no checkpoint yet: a new key over existing checkpoints would orphan them.
   */
  protected async openAnchor(backend: Backend, vault: Vault): Promise<TokenSigner> {
    return anchorOn(backend, vault, ANCHOR_HINT);
  }

  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<void> {
    if (error instanceof EggError) {
      const hint = error.hint === undefined ? '' : ` (${error.hint})`;
      process.stderr.write(`Error: ${error.message}${hint}.\n`);
      if (process.env.EGG_DEBUG === '1') process.stderr.write(`${debugStack(error)}\n`);
      process.exitCode = error.code === 'ERR_CANCELLED' ? 130 : USAGE_CODES.has(error.code) ? 2 : 1;
      return;
    }
    // Parse errors and `this.exit()` carry their own exit codes (2 for usage); let oclif print them.
    if (error instanceof Errors.CLIError || error.oclif?.exit !== undefined) throw error;
    process.stderr.write(`Error: ${oneLine(error)}.\n`);
    if (process.env.EGG_DEBUG === '1') process.stderr.write(`${debugStack(error)}\n`);
    else process.stderr.write('Set EGG_DEBUG=1 to see the stack trace.\n');
    process.exitCode = 1;
  }
}

/** An unexpected error's message, first line only (messages from our code never carry values). */
function oneLine(error: Error): string {
  return (error.message.split('\n')[0] ?? 'unexpected error').replace(/\.$/, '');
}

function debugStack(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    parts.push(
      depth === 0 ? (current.stack ?? String(current)) : `Caused by: ${current.stack ?? String(current)}`,
    );
    current = current.cause;
  }
  return parts.join('\n');
}
