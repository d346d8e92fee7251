/**
 * Where the login's refresh token lives: the OS keychain when there is one (macOS
 * `security`, or libsecret's `secret-tool` on Linux with a session bus), else a 0600 file
 * under `EGG_HOME` that is refused when it is a symlink or open to others. The token goes
 * to the keychain tools on stdin, never on a command line, where `ps` would show it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EggError } from '../errors.js';
import { assertPrivateFile, ensureHome } from '../home.js';
import { removeFile, writePrivateFile } from '../own-files.js';
import { REFRESH_TOKEN_FILE } from './files.js';

export type TokenStoreKind = 'file' | 'secret-tool' | 'keychain';

/** One refresh token, for one issuer and client. */
export interface TokenStore {
  readonly kind: TokenStoreKind;
  /** Where, for messages: a path or the keychain's name. */
  readonly location: string;
  load(): Promise<string | undefined>;
  save(token: string): Promise<void>;
  /** Whether there was something to delete. */
  delete(): Promise<boolean>;
}

const SERVICE = 'eggcarton-login';

export interface TokenStoreOptions {
  home: string;
  issuer: string;
  clientId: string;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

/**
 * The store for this machine. `EGG_TOKEN_STORE=file` forces the file; `keychain` insists on
 * the OS keychain; by default (`auto`) the keychain is used when its tool is on PATH.
 */
export function detectTokenStore(options: TokenStoreOptions): TokenStore {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const wanted = env.EGG_TOKEN_STORE ?? 'auto';
  if (!['auto', 'file', 'keychain'].includes(wanted)) {
    throw new EggError('ERR_INVALID_CONFIG', `unknown EGG_TOKEN_STORE "${wanted}"`, {
      hint: 'use "auto", "keychain" or "file"',
    });
  }
  if (wanted !== 'file') {
    const keychain = keychainStore(options, env, platform);
    if (keychain !== undefined) return keychain;
    if (wanted === 'keychain') {
      throw new EggError('ERR_INVALID_CONFIG', 'EGG_TOKEN_STORE is "keychain" but no OS keychain was found', {
        hint:
          platform === 'darwin'
            ? '`security` must be on PATH'
            : 'install libsecret’s `secret-tool` and run inside a desktop session (DBUS_SESSION_BUS_ADDRESS)',
      });
    }
  }
  return new FileTokenStore(join(options.home, REFRESH_TOKEN_FILE), options.home);
}

/** The store a session recorded, so a token is read back from where it was written. */
export function tokenStoreOfKind(kind: TokenStoreKind, options: TokenStoreOptions): TokenStore {
  if (kind === 'file') return new FileTokenStore(join(options.home, REFRESH_TOKEN_FILE), options.home);
  const env = options.env ?? process.env;
  const tool = findOnPath(kind === 'keychain' ? 'security' : 'secret-tool', env);
  if (tool === undefined) {
    throw new EggError(
      'ERR_LOGIN_REQUIRED',
      `the ${kind} tool that holds your refresh token is gone from PATH`,
      {
        hint: 'run `egg login` again',
      },
    );
  }
  return kind === 'keychain'
    ? new MacKeychainStore(tool, account(options), env)
    : new SecretToolStore(tool, options.issuer, options.clientId, env);
}

function keychainStore(
  options: TokenStoreOptions,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): TokenStore | undefined {
  if (platform === 'darwin') {
    const tool = findOnPath('security', env);
    return tool === undefined ? undefined : new MacKeychainStore(tool, account(options), env);
  }
  // secret-tool talks to the Secret Service over the session bus; without one it cannot work.
  if (platform !== 'win32' && env.DBUS_SESSION_BUS_ADDRESS) {
    const tool = findOnPath('secret-tool', env);
    return tool === undefined ? undefined : new SecretToolStore(tool, options.issuer, options.clientId, env);
  }
  return undefined;
}

/** A stable, quote-free account name for the issuer and client. */
function account(options: TokenStoreOptions): string {
  const digest = createHash('sha256').update(`${options.issuer}\n${options.clientId}`).digest('hex');
  return `egg-${digest.slice(0, 24)}`;
}

/** A 0600 file under EGG_HOME, written atomically, refused when it is a symlink or open to others. */
export class FileTokenStore implements TokenStore {
  readonly kind = 'file' as const;
  readonly location: string;
  readonly #home: string;

  constructor(path: string, home: string) {
    this.location = path;
    this.#home = home;
  }

  async load(): Promise<string | undefined> {
    try {
      assertPrivateFile(this.location);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const token = readFileSync(this.location, 'utf8').trim();
    return token === '' ? undefined : token;
  }

  async save(token: string): Promise<void> {
    ensureHome(this.#home, { create: true });
    writePrivateFile(this.location, `${token}\n`, {
      what: 'the refresh token',
      hint: 'remove it, then run `egg login` again',
    });
  }

  async delete(): Promise<boolean> {
    return removeFile(this.location);
  }
}

/** libsecret's `secret-tool` (Linux): attributes on the command line, the secret on stdin/stdout. */
export class SecretToolStore implements TokenStore {
  readonly kind = 'secret-tool' as const;
  readonly location = 'the Secret Service keyring (secret-tool)';
  readonly #tool: string;
  readonly #attributes: string[];
  readonly #env: NodeJS.ProcessEnv;

  constructor(tool: string, issuer: string, clientId: string, env: NodeJS.ProcessEnv) {
    this.#tool = tool;
    this.#attributes = ['service', SERVICE, 'issuer', issuer, 'client', clientId];
    this.#env = env;
  }

  async load(): Promise<string | undefined> {
    const result = await runTool(this.#tool, ['lookup', ...this.#attributes], this.#env);
    // `lookup` exits 1 with no output when nothing matches.
    if (result.code !== 0) return undefined;
    const token = result.stdout.trim();
    return token === '' ? undefined : token;
  }

  async save(token: string): Promise<void> {
    const result = await runTool(
      this.#tool,
      ['store', '--label=Egg Carton login', ...this.#attributes],
      this.#env,
      token,
    );
    if (result.code !== 0) throw keychainFailed('secret-tool store', result.code);
  }

  async delete(): Promise<boolean> {
    const had = (await this.load()) !== undefined;
    const result = await runTool(this.#tool, ['clear', ...this.#attributes], this.#env);
    if (result.code !== 0 && had) throw keychainFailed('secret-tool clear', result.code);
    return had;
  }
}

/**
 * The macOS login keychain through `security`. Adding a password with `-w` would put it on
 * the command line, so the add runs inside `security -i`, which reads its commands from
 * stdin, with the token hex-encoded (`-X`) so no quoting can go wrong.
 */
export class MacKeychainStore implements TokenStore {
  readonly kind = 'keychain' as const;
  readonly location = 'the macOS login keychain';
  readonly #tool: string;
  readonly #account: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(tool: string, accountName: string, env: NodeJS.ProcessEnv) {
    this.#tool = tool;
    this.#account = accountName;
    this.#env = env;
  }

  async load(): Promise<string | undefined> {
    const result = await runTool(
      this.#tool,
      ['find-generic-password', '-s', SERVICE, '-a', this.#account, '-w'],
      this.#env,
    );
    if (result.code !== 0) return undefined;
    const token = result.stdout.trim();
    return token === '' ? undefined : token;
  }

  async save(token: string): Promise<void> {
    const hex = Buffer.from(token, 'utf8').toString('hex');
    const command = `add-generic-password -U -s ${SERVICE} -a ${this.#account} -l "Egg Carton login" -X ${hex}\n`;
    const result = await runTool(this.#tool, ['-i'], this.#env, command);
    if (result.code !== 0) throw keychainFailed('security add-generic-password', result.code);
  }

  async delete(): Promise<boolean> {
    const result = await runTool(
      this.#tool,
      ['delete-generic-password', '-s', SERVICE, '-a', this.#account],
      this.#env,
    );
    return result.code === 0;
  }
}

function keychainFailed(what: string, code: number | null): EggError {
  return new EggError(
    'ERR_INSECURE_PERMISSIONS',
    `the OS keychain refused to store the login (${what} exited ${code})`,
    {
      hint: 'unlock the keychain, or set EGG_TOKEN_STORE=file to keep it in a 0600 file under EGG_HOME',
    },
  );
}

/** Run a keychain tool; `input` goes to its stdin. Its stderr is dropped: it may echo what it was given. */
function runTool(
  tool: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env, stdio: ['pipe', 'pipe', 'ignore'], timeout: 60_000 });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks).toString('utf8') }));
    child.stdin.end(input ?? '');
  });
}

/** The first executable `name` on PATH, without running anything. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}
