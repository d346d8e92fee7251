/**
 * Configuration, most specific first: flags, `EGG_*` environment, `.egg.json` in the
 * project (nearest ancestor of the working directory), then `$EGG_HOME/config.json`
 * (written by `egg init`). Read once into a typed, validated object.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EggError } from './errors.js';
import { defaultHome } from './home.js';
import { KEYRING_KINDS, type KeyringKind } from './keyrings/keyring.js';
import { assertNamespace } from './names.js';
import type { RotationStrategy } from './vault/vault.js';

export type Backend = 'local' | 'aws';

export interface EggConfig {
  backend: Backend;
  home: string;
  namespace: string;
  keyring: KeyringKind;
  rotation: RotationStrategy;
  table?: string;
  region?: string;
  kmsKeyId?: string;
  signingKeyId?: string;
  /** The KMS Ed25519 key that signs audit checkpoints (the rotator's); its public key checks them. */
  anchorKeyId?: string;
  /** `egg login`: the OIDC issuer URL (discovery at `<issuer>/.well-known/openid-configuration`). */
  oidcIssuer?: string;
  /** `egg login`: the OAuth client id registered at the issuer for the device flow. */
  oidcClientId?: string;
  /** `egg login`: space-separated scopes (default in src/login). */
  oidcScopes?: string;
  /** `egg login`: the IAM role the ID token is exchanged for. */
  roleArn?: string;
  /** `egg login` in a browser: the loopback redirect's port (a whole number; default in src/login). */
  oidcRedirectPort?: string;
}

/** The settings a file or flag may give; every field optional. */
export interface ConfigInput {
  backend?: string | undefined;
  namespace?: string | undefined;
  keyring?: string | undefined;
  rotation?: string | undefined;
  table?: string | undefined;
  region?: string | undefined;
  kmsKeyId?: string | undefined;
  signingKeyId?: string | undefined;
  anchorKeyId?: string | undefined;
  oidcIssuer?: string | undefined;
  oidcClientId?: string | undefined;
  oidcScopes?: string | undefined;
  roleArn?: string | undefined;
  oidcRedirectPort?: string | undefined;
}

/** Settings with no default: copied into the config only when some layer gives them. */
const OPTIONAL_FIELDS = [
  'table',
  'region',
  'kmsKeyId',
  'signingKeyId',
  'anchorKeyId',
  'oidcIssuer',
  'oidcClientId',
  'oidcScopes',
  'roleArn',
  'oidcRedirectPort',
] as const;

const FIELDS = ['backend', 'namespace', 'keyring', 'rotation', ...OPTIONAL_FIELDS] as const;

export const PROJECT_FILE = '.egg.json';

export function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  return {
    backend: env.EGG_BACKEND,
    namespace: env.EGG_NAMESPACE,
    keyring: env.EGG_KEYRING,
    rotation: env.EGG_ROTATION,
    table: env.EGG_TABLE,
    region: env.EGG_REGION ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    kmsKeyId: env.EGG_KMS_KEY_ID,
    signingKeyId: env.EGG_SIGNING_KEY_ID,
    anchorKeyId: env.EGG_ANCHOR_KEY_ID,
    oidcIssuer: env.EGG_OIDC_ISSUER,
    oidcClientId: env.EGG_OIDC_CLIENT_ID,
    oidcScopes: env.EGG_OIDC_SCOPES,
    roleArn: env.EGG_ROLE_ARN,
    oidcRedirectPort: env.EGG_OIDC_REDIRECT_PORT,
  };
}

/** Read a JSON config file; a missing file is `{}`, a malformed one an error naming the file. */
export function readConfigFile(path: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EggError('ERR_INVALID_CONFIG', `${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EggError('ERR_INVALID_CONFIG', `${path} must hold a JSON object`);
  }
  const input: ConfigInput = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw new EggError('ERR_INVALID_CONFIG', `${path}: unknown setting "${key}"`, {
        hint: `settings are ${FIELDS.join(', ')}`,
      });
    }
    // A port reads naturally as a number; every other setting is a string.
    if (key === 'oidcRedirectPort' && Number.isInteger(value)) {
      input.oidcRedirectPort = String(value);
      continue;
    }
    if (typeof value !== 'string')
      throw new EggError('ERR_INVALID_CONFIG', `${path}: "${key}" must be a string`);
    input[key as (typeof FIELDS)[number]] = value;
  }
  return input;
}

/** The nearest `.egg.json` at or above `cwd`, if any. */
export function findProjectFile(cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    const candidate = join(dir, PROJECT_FILE);
    try {
      readFileSync(candidate);
      return candidate;
    } catch {}
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function resolveConfig(
  options: { flags?: ConfigInput; env?: NodeJS.ProcessEnv; cwd?: string; home?: string } = {},
): EggConfig {
  const env = options.env ?? process.env;
  const home = options.home ?? defaultHome(env);
  const projectFile = findProjectFile(options.cwd ?? process.cwd());
  const layers: ConfigInput[] = [
    options.flags ?? {},
    fromEnv(env),
    projectFile === undefined ? {} : readConfigFile(projectFile),
    readConfigFile(join(home, 'config.json')),
  ];
  const pick = (key: (typeof FIELDS)[number]): string | undefined => {
    for (const layer of layers) {
      const value = layer[key];
      if (value !== undefined && value !== '') return value;
    }
    return undefined;
  };

  const backend = pick('backend') ?? 'local';
  if (backend !== 'local' && backend !== 'aws') {
    throw new EggError('ERR_INVALID_CONFIG', `unknown backend "${backend}"`, {
      hint: 'use "local" or "aws"',
    });
  }
  const namespace = pick('namespace') ?? 'default';
  assertNamespace(namespace);
  const keyring = pick('keyring') ?? (backend === 'aws' ? 'kms' : 'local');
  if (!(KEYRING_KINDS as readonly string[]).includes(keyring)) {
    throw new EggError('ERR_INVALID_CONFIG', `unknown keyring "${keyring}"`, {
      hint: `use one of ${KEYRING_KINDS.join(', ')}`,
    });
  }
  const rotation = pick('rotation') ?? 'inline';
  if (rotation !== 'inline' && rotation !== 'deferred') {
    throw new EggError('ERR_INVALID_CONFIG', `unknown rotation strategy "${rotation}"`, {
      hint: 'use "inline" or "deferred"',
    });
  }
  const config: EggConfig = {
    backend,
    home,
    namespace,
    keyring: keyring as KeyringKind,
    rotation,
  };
  // The login settings are checked by src/login when used, so a bad one breaks only `egg login`.
  for (const key of OPTIONAL_FIELDS) {
    const value = pick(key);
    if (value !== undefined) config[key] = value;
  }
  if (config.table !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(config.table)) {
    throw new EggError('ERR_INVALID_CONFIG', `invalid table name "${config.table}"`, {
      hint: 'a DynamoDB table name is 3 to 255 letters, digits, "_", "-" or "."',
    });
  }
  if (backend === 'aws' && config.keyring === 'local') {
    throw new EggError('ERR_INVALID_CONFIG', 'the aws backend needs a KMS keyring', {
      hint: 'set EGG_KEYRING to "kms" or "kms-hierarchical"',
    });
  }
  return config;
}
