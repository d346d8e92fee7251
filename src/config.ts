/**
 * Configuration, most specific first: flags, `EGG_*` environment, the project's `.egg.json`
 * (in the current directory or the repository root; see src/config-file.ts), then
 * `$EGG_HOME/config.json`. Read once into a typed, validated object that remembers where
 * each setting came from, so an error can name its source. A project file's routing
 * settings (`ROUTING_SETTINGS`: where secrets go or come from) apply only when the user has
 * trusted that exact content with `egg trust` (src/trust.ts); otherwise the command is
 * refused, since ignoring them would send a `secrets set` somewhere the user did not expect.
 */
import { join } from 'node:path';
import {
  type ConfigFile,
  type ConfigInput,
  FIELDS,
  findProjectFile,
  OPTIONAL_FIELDS,
  readConfigFile,
  ROUTING_SETTINGS,
  type Setting,
} from './config-file.js';
import { EggError, isEggError } from './errors.js';
import { defaultHome } from './home.js';
import { assertNamespace } from './names.js';
import { type TrustStatus, trustStatus } from './trust.js';

export type { ConfigInput, Setting } from './config-file.js';
export { PROJECT_FILE, ROUTING_SETTINGS } from './config-file.js';

/** `api`: the service mode's HTTP API (docs/service.md) at EGG_API_URL, with a JWT. */
export type BackendKind = 'local' | 'aws' | 'api';

/** Where data keys come from (src/keyrings/): the local KEK, a KMS data key per secret, or a KMS-wrapped namespace KEK. */
export type KeyringKind = 'local' | 'kms' | 'kms-hierarchical';

export const KEYRING_KINDS: readonly KeyringKind[] = ['local', 'kms', 'kms-hierarchical'];

/** When a read's data keys are replaced: by the reader (`inline`) or by the rotator after it (`deferred`). */
export type RotationStrategy = 'inline' | 'deferred';

export interface EggConfig {
  backend: BackendKind;
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
  /** The KMS RSA_3072 key whose public half seals provider keys (src/keyrings/kms-sealing.ts). */
  sealingKeyId?: string;
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
  /** Where each given setting came from: `--namespace`, `EGG_TABLE`, a file's path. */
  sources?: Partial<Record<Setting, string>>;
  /** The project file that was read, and the routing settings it gave (trusted, or it would be refused). */
  projectFile?: { path: string; routing: Setting[] };
}

/** The flag that sets each setting, for messages. */
const FLAG_NAMES: Partial<Record<Setting, string>> = {
  backend: '--backend',
  namespace: '--namespace',
  keyring: '--keyring',
  table: '--table',
  region: '--region',
  kmsKeyId: '--kms-key-id',
  oidcIssuer: '--issuer',
  oidcClientId: '--client-id',
  oidcScopes: '--scopes',
  roleArn: '--role-arn',
  oidcRedirectPort: '--redirect-port',
};

/** The `EGG_*` variable of each setting (the region also comes from the SDK's own variables). */
const ENV_NAMES: Record<Setting, readonly string[]> = {
  backend: ['EGG_BACKEND'],
  namespace: ['EGG_NAMESPACE'],
  keyring: ['EGG_KEYRING'],
  rotation: ['EGG_ROTATION'],
  table: ['EGG_TABLE'],
  region: ['EGG_REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION'],
  kmsKeyId: ['EGG_KMS_KEY_ID'],
  signingKeyId: ['EGG_SIGNING_KEY_ID'],
  anchorKeyId: ['EGG_ANCHOR_KEY_ID'],
  sealingKeyId: ['EGG_SEALING_KEY_ID'],
  oidcIssuer: ['EGG_OIDC_ISSUER'],
  oidcClientId: ['EGG_OIDC_CLIENT_ID'],
  oidcScopes: ['EGG_OIDC_SCOPES'],
  roleArn: ['EGG_ROLE_ARN'],
  oidcRedirectPort: ['EGG_OIDC_REDIRECT_PORT'],
};

/** One layer of configuration: its settings and what to call the source of each. */
interface Layer {
  settings: ConfigInput;
  source: (key: Setting) => string;
}

const given = (value: string | undefined): value is string => value !== undefined && value !== '';

export function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  return Object.fromEntries(FIELDS.map((key) => [key, envSource(env, key)?.value])) as ConfigInput;
}

function envSource(env: NodeJS.ProcessEnv, key: Setting): { name: string; value: string } | undefined {
  for (const name of ENV_NAMES[key]) {
    const value = env[name];
    if (given(value)) return { name, value };
  }
  return undefined;
}

function fileLayer(file: ConfigFile | undefined): Layer {
  return { settings: file?.settings ?? {}, source: () => file?.path ?? '' };
}

/**
 * Resolve the configuration for a command run in `cwd`.
 *
 * @example
 * const config = resolveConfig({ flags: { namespace: 'acme/web' } });
 */
export function resolveConfig(
  options: { flags?: ConfigInput; env?: NodeJS.ProcessEnv; cwd?: string; home?: string } = {},
): EggConfig {
  const env = options.env ?? process.env;
  const home = options.home ?? defaultHome(env);
  const projectPath = findProjectFile(options.cwd ?? process.cwd());
  const project = projectPath === undefined ? undefined : readConfigFile(projectPath);
  const projectLayer = fileLayer(project);
  const layers: Layer[] = [
    // A setting no command has a flag for can still come from a library caller's `flags`.
    { settings: options.flags ?? {}, source: (key) => FLAG_NAMES[key] ?? `--${key}` },
    { settings: fromEnv(env), source: (key) => envSource(env, key)?.name ?? 'the environment' },
    projectLayer,
    fileLayer(readConfigFile(join(home, 'config.json'))),
  ];
  const sources: Partial<Record<Setting, string>> = {};
  const chosen: Partial<Record<Setting, Layer>> = {};
  for (const key of FIELDS) {
    const layer = layers.find((l) => given(l.settings[key]));
    if (layer === undefined) continue;
    chosen[key] = layer;
    sources[key] = layer.source(key);
  }
  const pick = (key: Setting): string | undefined => chosen[key]?.settings[key];

  const routing = ROUTING_SETTINGS.filter((key) => project !== undefined && chosen[key] === projectLayer);
  if (project !== undefined && routing.length > 0) {
    const status = trustStatus(home, project);
    if (status !== 'trusted') throw untrusted(project, routing, status);
  }
  const from = (key: Setting) => sourceSuffix({ sources }, key);

  const backend = pick('backend') ?? 'local';
  if (backend !== 'local' && backend !== 'aws' && backend !== 'api') {
    throw new EggError('ERR_INVALID_CONFIG', `unknown backend "${backend}"${from('backend')}`, {
      hint: 'use "local", "aws" or "api"',
    });
  }
  const namespace = pick('namespace') ?? 'default';
  try {
    assertNamespace(namespace);
  } catch (error) {
    if (!isEggError(error) || from('namespace') === '') throw error;
    throw new EggError(error.code, `${error.message}${from('namespace')}`, {
      cause: error,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
    });
  }
  const keyring = pick('keyring') ?? (backend === 'aws' ? 'kms' : 'local');
  if (!(KEYRING_KINDS as readonly string[]).includes(keyring)) {
    throw new EggError('ERR_INVALID_CONFIG', `unknown keyring "${keyring}"${from('keyring')}`, {
      hint: `use one of ${KEYRING_KINDS.join(', ')}`,
    });
  }
  const rotation = pick('rotation') ?? 'inline';
  if (rotation !== 'inline' && rotation !== 'deferred') {
    throw new EggError('ERR_INVALID_CONFIG', `unknown rotation strategy "${rotation}"${from('rotation')}`, {
      hint: 'use "inline" or "deferred"',
    });
  }
  const config: EggConfig = {
    backend,
    home,
    namespace,
    keyring: keyring as KeyringKind,
    rotation,
    sources,
  };
  if (project !== undefined) config.projectFile = { path: project.path, routing };
  // The login settings are checked by src/login when used, so a bad one breaks only `egg login`.
  for (const key of OPTIONAL_FIELDS) {
    const value = pick(key);
    if (value !== undefined) config[key] = value;
  }
  if (config.table !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(config.table)) {
    throw new EggError('ERR_INVALID_CONFIG', `invalid table name "${config.table}"${from('table')}`, {
      hint: 'a DynamoDB table name is 3 to 255 letters, digits, "_", "-" or "."',
    });
  }
  if (backend === 'aws' && config.keyring === 'local') {
    throw new EggError('ERR_INVALID_CONFIG', `the aws backend needs a KMS keyring${from('keyring')}`, {
      hint: 'set EGG_KEYRING to "kms" or "kms-hierarchical"',
    });
  }
  return config;
}

/**
 * ` (from SOURCE)` for a message about a bad value of `key`, naming the variable or file it
 * came from; empty for a flag, which the user has just typed, and for a default.
 */
export function sourceSuffix(config: Pick<EggConfig, 'sources'>, key: Setting): string {
  const source = config.sources?.[key];
  return source === undefined || source.startsWith('-') ? '' : ` (from ${source})`;
}

/** The refusal of a project file's routing settings that the user has not trusted. */
function untrusted(file: ConfigFile, keys: readonly Setting[], status: TrustStatus): EggError {
  const list = keys.length === 1 ? keys[0]! : `${keys.slice(0, -1).join(', ')} and ${keys.at(-1)!}`;
  if (status === 'changed') {
    return new EggError(
      'ERR_UNTRUSTED_CONFIG',
      `${file.path} changed since you trusted it, and it sets ${list}`,
      {
        hint: 'check it, then run `egg trust` again',
      },
    );
  }
  return new EggError(
    'ERR_UNTRUSTED_CONFIG',
    `${file.path} sets ${list}, which egg takes only from a file you trust`,
    { hint: 'check it, then run `egg trust`' },
  );
}
