/**
 * The Action's inputs (action.yml), read once into a typed, validated object. Pure: it
 * takes the runner's `getInput` and touches nothing else, so it is tested with a table of
 * plain objects. Every message names the input and says what it allows.
 */
import { SOON_DAYS } from '../expiry.js';
import { EggError } from '../errors.js';
import { isNamespace, isSecretName } from '../names.js';
import { MASK_ENCODINGS, type MaskEncoding } from '../run/mask-forms.js';
import {
  checkMint,
  MAX_CAP,
  MAX_ORIGINS,
  MAX_TTL_SECONDS,
  type MintProblem,
  TOKEN_ID,
} from '../tokens/claims.js';

/** One requested secret: the vault `name`, exported as `env`. */
export interface SecretMapping {
  env: string;
  name: string;
}

/** What every step takes, whichever the backend. */
interface StepInputs {
  audience: string;
  roleSessionDuration: number;
  namespace: string;
  /** `inline`: the step re-encrypts each secret it reads; `deferred`: a trusted rotator does (read-only roles). */
  rotation: 'inline' | 'deferred';
  /** `'*'` for every secret in the namespace, else the requested secrets in input order. */
  secrets: '*' | SecretMapping[];
  exportEnv: boolean;
  outputs: boolean;
  /** A file name, written under RUNNER_TEMP. */
  dotenvFile?: string;
  maskEncodings: MaskEncoding[];
  exportAwsCredentials: boolean;
  webIdentityTokenFile: boolean;
  /** Warn (an annotation) for each secret pulled that expires within this many days, or has expired. */
  expiryWarningDays: number;
  /** Tokens to mint after the pull (`mint-tokens`); absent when none. */
  mintTokens?: TokenSpec[];
  /** Tokens to rotate after the pull (`rotate-tokens`); absent when none. */
  rotateTokens?: RotateSpec[];
}

/** An `aws` step: the role it assumes, and the table and keys it uses. */
export interface AwsInputs extends StepInputs {
  backend: 'aws';
  keyring: 'kms' | 'kms-hierarchical';
  roleToAssume: string;
  awsRegion: string;
  table: string;
  kmsKeyId: string;
  /** The KMS Ed25519 key that signs minted tokens; present whenever `mintTokens` or `rotateTokens` is. */
  signingKeyId?: string;
}

/** A `local` step: the SQLite vault in `eggHome` (EGG_HOME, else ~/.egg, when absent). */
export interface LocalInputs extends StepInputs {
  backend: 'local';
  keyring: 'local';
  eggHome?: string;
}

/**
 * An `api` step (service mode, docs/service.md): the vault is on the API's server, and the
 * job's OIDC token, requested for `apiAudience`, is the bearer of every call (no STS).
 */
export interface ApiInputs extends StepInputs {
  backend: 'api';
  /** https, or http on loopback only. */
  apiUrl: string;
  /** The audience of the job's OIDC token; the API's URL without its path when not given. */
  apiAudience: string;
}

export type ActionInputs = AwsInputs | LocalInputs | ApiInputs;

/** One token to mint for the job (`mint-tokens`): the provider key, its origins, lifetime and caps. */
export interface TokenSpec {
  key: string;
  /** Empty only with `allowNoOrigin`. */
  origins: string[];
  /** `allow-no-origin=true`: also usable with no `Origin` (native apps); absent otherwise. */
  allowNoOrigin?: true;
  ttlSeconds: number;
  rps: number;
  burst?: number;
  spend: number;
  cost?: number;
  /** `max-clients=N`: distinct client addresses in a minute, across every proxy (as `--max-clients`). */
  maxClients?: number;
  /** `client-rps=N`: sustained requests per second from one client address (as `--client-rps`). */
  clientRps?: number;
}

/**
 * One token to rotate (`rotate-tokens`): its successor is the output `token-NAME`, and the
 * token `id` stops being accepted `graceSeconds` from now.
 */
export interface RotateSpec {
  name: string;
  id: string;
  graceSeconds: number;
}

/** A token lives no longer than the job may: GitHub ends a job after 6 h (and the token tool's own max). */
export const MAX_JOB_TTL_SECONDS = Math.min(6 * 3600, MAX_TTL_SECONDS);
/** The lifetime of a minted token when its spec gives none (as `egg tokens mint`). */
const DEFAULT_TTL_SECONDS = 3600;
/** At most this many tokens per step. */
export const MAX_MINTED_TOKENS = 20;

/** The runner's reader: `core.getInput(name)`, i.e. `INPUT_<NAME>` trimmed, '' when unset. */
export type GetInput = (name: string) => string;

// Exported for the post step, which checks the main step's saved state against them.
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
export const TABLE = /^[A-Za-z0-9_.-]{3,255}$/;
export const AUDIENCE = /^[\x21-\x7e]{1,256}$/;
/** The `audience` STS expects by default (action.yml's default too). */
const STS_AUDIENCE = 'sts.amazonaws.com';
const KMS_KEY_ID = /^[A-Za-z0-9:/_.=+@-]{1,2048}$/;
/** STS accepts 900 s up to the role's maximum session duration, itself at most 12 h. */
const MIN_DURATION = 900;
const MAX_DURATION = 43_200;

/** Read and validate every input; throws `EggError('ERR_USAGE')` naming the first bad input. */
export function readInputs(getInput: GetInput): ActionInputs {
  const backend = oneOf(getInput, 'backend', ['aws', 'local', 'api'], 'aws');
  const step: StepInputs = {
    audience: matching(getInput, 'audience', AUDIENCE, 'printable characters without spaces') ?? STS_AUDIENCE,
    roleSessionDuration: duration(getInput),
    namespace: namespace(getInput),
    rotation: oneOf(getInput, 'rotation', ['inline', 'deferred'], 'inline'),
    secrets: secrets(getInput('secrets')),
    exportEnv: bool(getInput, 'export-env', true),
    outputs: bool(getInput, 'outputs', false),
    maskEncodings: maskEncodings(getInput('mask-encodings')),
    exportAwsCredentials: bool(getInput, 'export-aws-credentials', false),
    webIdentityTokenFile: bool(getInput, 'web-identity-token-file', false),
    expiryWarningDays: days(getInput, 'expiry-warning-days', SOON_DAYS),
  };
  const dotenvFile = fileName(getInput('dotenv-file'));
  if (dotenvFile !== undefined) step.dotenvFile = dotenvFile;
  const aws = awsSettings(getInput);
  const eggHome = getInput('egg-home');
  const mintTokens = tokenSpecs(getInput('mint-tokens'));
  if (mintTokens.length > 0) step.mintTokens = mintTokens;
  const rotateTokens = rotateSpecs(getInput('rotate-tokens'));
  if (rotateTokens.length > 0) step.rotateTokens = rotateTokens;
  for (const { name } of rotateTokens)
    if (mintTokens.some((spec) => spec.key === name))
      throw conflict(
        ['mint-tokens', 'rotate-tokens'],
        `both name ${name}: each sets the output token-${name}`,
        'give each output name once',
      );
  const api = apiSettings(getInput);
  if (backend !== 'api')
    for (const [name, value] of Object.entries(api))
      if (value !== undefined)
        throw conflict(
          [name, 'backend'],
          `are set and "${backend}": ${name} applies only to backend "api"`,
          `leave ${name} empty`,
        );
  if (backend === 'api') return apiInputs(getInput, step, aws, api, eggHome);
  return backend === 'aws'
    ? awsInputs(getInput, step, aws, eggHome)
    : localInputs(getInput, step, aws, eggHome);
}

/** The api-only inputs as given (each checked for form), undefined where empty. */
function apiSettings(getInput: GetInput) {
  return {
    'api-url': apiUrl(getInput('api-url')),
    'api-audience': matching(getInput, 'api-audience', AUDIENCE, 'printable characters without spaces'),
  };
}

const API_URL_ALLOWED =
  'the API’s https URL (http only on loopback), with no user, query or fragment, e.g. https://egg.example.com';

function apiUrl(value: string): string | undefined {
  if (value === '') return undefined;
  if (!isApiUrl(value)) throw usage('api-url', `is ${shown(value)}`, API_URL_ALLOWED);
  return new URL(value).href;
}

/**
 * Whether `value` is a URL the job's OIDC token may be sent to: https, or http on loopback,
 * with no user, query or fragment (the post step checks the saved one again).
 */
export function isApiUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  const scheme = url.protocol === 'https:' || (url.protocol === 'http:' && loopback);
  return scheme && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
}

/**
 * An api step: refuses every aws input, `egg-home`, the STS `audience` and deferred rotation (the
 * server decides), each naming it with `backend`. `mint-tokens` and `rotate-tokens` go through
 * the API with the job's OIDC token, as the pull does.
 */
function apiInputs(
  getInput: GetInput,
  step: StepInputs,
  aws: ReturnType<typeof awsSettings>,
  api: ReturnType<typeof apiSettings>,
  eggHome: string,
): ApiInputs {
  const url = api['api-url'];
  if (url === undefined) throw usage('api-url', 'is required with backend "api"', API_URL_ALLOWED);
  const given: [string, boolean][] = [
    ['role-to-assume', aws.role !== undefined],
    ['aws-region', aws.region !== undefined],
    ['table', aws.table !== undefined],
    ['kms-key-id', aws.kmsKeyId !== undefined],
    ['signing-key-id', aws.signingKeyId !== undefined],
    ['keyring', getInput('keyring') !== ''],
    // action.yml gives these two defaults: only another value is refused.
    ['audience', !['', STS_AUDIENCE].includes(getInput('audience'))],
    ['role-session-duration', !['', String(MIN_DURATION)].includes(getInput('role-session-duration'))],
    ['export-aws-credentials', step.exportAwsCredentials],
    ['web-identity-token-file', step.webIdentityTokenFile],
    ['egg-home', eggHome !== ''],
  ];
  for (const [name, set] of given)
    if (set)
      throw conflict(
        [name, 'backend'],
        `are set and "api": ${name} does not apply to backend "api"`,
        name === 'audience'
          ? 'give the OIDC token’s audience as api-audience'
          : `leave ${name} empty with backend "api"`,
      );
  if (step.rotation === 'deferred')
    throw conflict(
      ['rotation', 'backend'],
      'are "deferred" and "api": the API re-encrypts what it reads as its own configuration says',
      'rotation "inline" (the default) with backend "api"',
    );
  return { ...step, backend: 'api', apiUrl: url, apiAudience: api['api-audience'] ?? new URL(url).origin };
}

/** The aws-only inputs as given (each checked for form), undefined where empty. */
function awsSettings(getInput: GetInput) {
  return {
    role: matching(
      getInput,
      'role-to-assume',
      ROLE_ARN,
      'an IAM role ARN (arn:aws:iam::123456789012:role/name)',
    ),
    region: matching(getInput, 'aws-region', REGION, 'an AWS region such as us-east-1'),
    table: matching(getInput, 'table', TABLE, TABLE_ALLOWED),
    kmsKeyId: matching(getInput, 'kms-key-id', KMS_KEY_ID, 'a KMS key id, key ARN, alias name or alias ARN'),
    signingKeyId: matching(
      getInput,
      'signing-key-id',
      KMS_KEY_ID,
      'a KMS key id, key ARN, alias name or alias ARN of an Ed25519 signing key',
    ),
  };
}

const TABLE_ALLOWED = '3 to 255 letters, digits, "_", "-" or "."';

function awsInputs(
  getInput: GetInput,
  step: StepInputs,
  aws: ReturnType<typeof awsSettings>,
  eggHome: string,
): AwsInputs {
  const keyring = oneOf(getInput, 'keyring', ['kms', 'kms-hierarchical'], 'kms');
  const required = 'is required with backend "aws"';
  if (aws.role === undefined) throw usage('role-to-assume', required, 'an IAM role ARN');
  if (aws.region === undefined) throw usage('aws-region', required, 'an AWS region such as us-east-1');
  if (eggHome !== '')
    throw usage('egg-home', 'applies only to backend "local"', 'an empty value with backend "aws"');
  const tokens = step.mintTokens !== undefined ? 'mint-tokens' : 'rotate-tokens';
  if ((step.mintTokens ?? step.rotateTokens) !== undefined && aws.signingKeyId === undefined) {
    throw usage(
      'signing-key-id',
      `is required with backend "aws" when ${tokens} is set`,
      'the KMS key that signs the tokens (key spec ECC_NIST_EDWARDS25519, usage SIGN_VERIFY): a key id, key ARN, alias name or alias ARN',
    );
  }
  if (step.exportAwsCredentials && step.webIdentityTokenFile) {
    // The SDKs take AWS_ACCESS_KEY_ID before AWS_WEB_IDENTITY_TOKEN_FILE: one would be ignored.
    throw conflict(
      ['export-aws-credentials', 'web-identity-token-file'],
      'both give later steps AWS credentials, and AWS SDKs would use the exported keys and ignore the token file',
      'set one of them to "true"',
    );
  }
  if (aws.table === undefined) throw usage('table', required, `the DynamoDB table's name: ${TABLE_ALLOWED}`);
  if (aws.kmsKeyId === undefined)
    throw usage(
      'kms-key-id',
      required,
      'the KMS key that wraps the data keys: a key id, key ARN, alias name or alias ARN',
    );
  const inputs: AwsInputs = {
    ...step,
    backend: 'aws',
    keyring,
    roleToAssume: aws.role,
    awsRegion: aws.region,
    table: aws.table,
    kmsKeyId: aws.kmsKeyId,
  };
  if (aws.signingKeyId !== undefined) inputs.signingKeyId = aws.signingKeyId;
  return inputs;
}

function localInputs(
  getInput: GetInput,
  step: StepInputs,
  aws: ReturnType<typeof awsSettings>,
  eggHome: string,
): LocalInputs {
  const keyring = oneOf(getInput, 'keyring', ['local'], 'local');
  for (const [name, value] of [
    ['role-to-assume', aws.role],
    ['aws-region', aws.region],
    ['table', aws.table],
    ['kms-key-id', aws.kmsKeyId],
    ['signing-key-id', aws.signingKeyId],
  ] as const) {
    if (value !== undefined)
      throw usage(name, 'applies only to backend "aws"', 'an empty value with backend "local"');
  }
  for (const name of ['export-aws-credentials', 'web-identity-token-file'] as const) {
    if (name === 'export-aws-credentials' ? step.exportAwsCredentials : step.webIdentityTokenFile) {
      throw usage(name, 'applies only to backend "aws"', '"false" with backend "local"');
    }
  }
  if (step.rotation === 'deferred') {
    throw conflict(
      ['rotation', 'backend'],
      'are "deferred" and "local": deferred rotation leaves re-encryption to the rotator on AWS, and a local vault has none, so what the step reads would never be re-encrypted',
      'rotation "inline" (the default) with backend "local"',
    );
  }
  const inputs: LocalInputs = { ...step, backend: 'local', keyring };
  if (eggHome !== '') inputs.eggHome = eggHome;
  return inputs;
}

function usage(input: string, problem: string, allowed: string): EggError {
  return new EggError('ERR_USAGE', `input "${input}" ${problem}; it takes ${allowed}`);
}

/** Inputs that each make sense alone but not together: refused naming both, never one chosen silently. */
function conflict(inputs: readonly [string, string], problem: string, fix: string): EggError {
  return new EggError('ERR_USAGE', `inputs "${inputs[0]}" and "${inputs[1]}" ${problem}; ${fix}`);
}

/** Quote what the user typed, cut to 60 characters (inputs hold names and settings, never values). */
function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

function bool(getInput: GetInput, name: string, fallback: boolean): boolean {
  const value = getInput(name);
  if (value === '') return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw usage(name, `is ${shown(value)}`, '"true" or "false"');
}

function oneOf<T extends string>(getInput: GetInput, name: string, choices: readonly T[], fallback: T): T {
  const value = getInput(name);
  if (value === '') return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw usage(name, `is ${shown(value)}`, choices.map((c) => `"${c}"`).join(' or '));
}

function matching(getInput: GetInput, name: string, pattern: RegExp, allowed: string): string | undefined {
  const value = getInput(name);
  if (value === '') return undefined;
  if (!pattern.test(value)) throw usage(name, `is ${shown(value)}`, allowed);
  return value;
}

function days(getInput: GetInput, name: string, fallback: number): number {
  const value = getInput(name);
  if (value === '') return fallback;
  if (!/^\d{1,4}$/.test(value) || Number(value) > 3650)
    throw usage(name, `is ${shown(value)}`, 'whole days from 0 to 3650 (0: warn only for expired secrets)');
  return Number(value);
}

function duration(getInput: GetInput): number {
  const value = getInput('role-session-duration');
  if (value === '') return MIN_DURATION;
  const seconds = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= MIN_DURATION && seconds <= MAX_DURATION)) {
    throw usage(
      'role-session-duration',
      `is ${shown(value)}`,
      `whole seconds from ${MIN_DURATION} to ${MAX_DURATION} (and at most the role's maximum session duration)`,
    );
  }
  return seconds;
}

function namespace(getInput: GetInput): string {
  const value = getInput('namespace');
  if (value === '') return 'default';
  if (!isNamespace(value)) {
    throw usage(
      'namespace',
      `is ${shown(value)}`,
      '1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)',
    );
  }
  return value;
}

const SECRETS_ALLOWED = 'one entry a line: NAME, ENV_NAME=NAME, or * for every secret in the namespace';

function secrets(text: string): '*' | SecretMapping[] {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length === 0) return '*';
  if (lines.includes('*')) {
    if (lines.length === 1) return '*';
    throw usage('secrets', 'mixes "*" with named secrets', SECRETS_ALLOWED);
  }
  const mappings: SecretMapping[] = [];
  const envs = new Set<string>();
  for (const line of lines) {
    const eq = line.indexOf('=');
    const env = (eq === -1 ? line : line.slice(0, eq)).trim();
    const name = (eq === -1 ? line : line.slice(eq + 1)).trim();
    if (!isSecretName(env) || !isSecretName(name)) {
      throw usage(
        'secrets',
        `has the line ${shown(line)}, which is not a name`,
        `${SECRETS_ALLOWED}; a name is a letter or _, then letters, digits or _`,
      );
    }
    if (envs.has(env)) throw usage('secrets', `sets ${env} twice`, `${SECRETS_ALLOWED}, each ENV_NAME once`);
    envs.add(env);
    mappings.push({ env, name });
  }
  return mappings;
}

function maskEncodings(text: string): MaskEncoding[] {
  if (text === '') return [...MASK_ENCODINGS];
  if (text === 'none') return [];
  const encodings: MaskEncoding[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (!(MASK_ENCODINGS as readonly string[]).includes(part)) {
      throw usage(
        'mask-encodings',
        `has ${shown(part)}`,
        `a comma-separated list of ${MASK_ENCODINGS.join(', ')}, or "none"`,
      );
    }
    if (!encodings.includes(part as MaskEncoding)) encodings.push(part as MaskEncoding);
  }
  return encodings;
}

/** A plain file name: no directory part, so the file can only land directly in RUNNER_TEMP. */
function fileName(value: string): string | undefined {
  if (value === '') return undefined;
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(value) || value === '.' || value === '..') {
    throw usage(
      'dotenv-file',
      `is ${shown(value)}`,
      'a file name of letters, digits, ".", "_" or "-" (no directory: the file is written under RUNNER_TEMP)',
    );
  }
  return value;
}

const MINT_ALLOWED =
  'one token a line, `KEY origins=https://a.example,https://b.example ttl=30m rps=5 spend=1000 [burst=10] [cost=1] [allow-no-origin=true] [max-clients=3] [client-rps=2]`, ' +
  'or a JSON list of {"key", "origins", "ttl", "rps", "spend", "burst", "cost", "allow-no-origin", "max-clients", "client-rps"}';
const SPEC_FIELDS = [
  'origins',
  'ttl',
  'rps',
  'burst',
  'spend',
  'cost',
  'allow-no-origin',
  'max-clients',
  'client-rps',
] as const;
type SpecField = (typeof SPEC_FIELDS)[number];

/** `mint-tokens`: one spec a line, or a JSON list; each checked as `egg tokens mint` checks its flags. */
function tokenSpecs(text: string): TokenSpec[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const raw = trimmed.startsWith('[') ? jsonSpecs(trimmed) : lineSpecs(trimmed);
  if (raw.length === 0) return [];
  if (raw.length > MAX_MINTED_TOKENS) {
    throw usage('mint-tokens', `asks for ${raw.length} tokens`, `at most ${MAX_MINTED_TOKENS} tokens`);
  }
  const specs: TokenSpec[] = [];
  const keys = new Set<string>();
  for (const [index, fields] of raw.entries()) {
    const spec = tokenSpec(fields, index + 1);
    if (keys.has(spec.key)) {
      throw usage(
        'mint-tokens',
        `names ${spec.key} twice`,
        `${MINT_ALLOWED}; each KEY once (its token is the output token-KEY)`,
      );
    }
    keys.add(spec.key);
    specs.push(spec);
  }
  return specs;
}

interface RawSpec {
  key: unknown;
  fields: Partial<Record<SpecField, unknown>>;
}

function lineSpecs(text: string): RawSpec[] {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return lines.map((line, index) => {
    const [key, ...pairs] = line.split(/\s+/);
    const fields: RawSpec['fields'] = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      if (eq < 1 || !(SPEC_FIELDS as readonly string[]).includes(name)) {
        throw usage('mint-tokens', `line ${index + 1} has ${shown(pair)}`, MINT_ALLOWED);
      }
      if (name in fields) throw usage('mint-tokens', `line ${index + 1} sets ${name} twice`, MINT_ALLOWED);
      fields[name as SpecField] = pair.slice(eq + 1);
    }
    return { key, fields };
  });
}

function jsonSpecs(text: string): RawSpec[] {
  return jsonObjects(text, 'mint-tokens', ['key', ...SPEC_FIELDS], MINT_ALLOWED).map(
    ({ key, ...fields }) => ({
      key,
      fields,
    }),
  );
}

/**
 * Text that starts with "[" read as a JSON list of objects with only `fields`, refused naming
 * `input` otherwise. (Valid JSON that starts with "[" is a list.)
 */
function jsonObjects(
  text: string,
  input: string,
  fields: readonly string[],
  allowed: string,
): Record<string, unknown>[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw usage(input, 'starts with "[" but is not valid JSON', allowed);
  }
  return (value as unknown[]).map((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw usage(input, `item ${index + 1} is not an object`, allowed);
    for (const name of Object.keys(item))
      if (!fields.includes(name))
        throw usage(input, `item ${index + 1} has the unknown field ${shown(name)}`, allowed);
    return item as Record<string, unknown>;
  });
}

function tokenSpec({ key, fields }: RawSpec, n: number): TokenSpec {
  const where = `token ${n}`;
  if (typeof key !== 'string' || !isSecretName(key)) {
    throw usage(
      'mint-tokens',
      `${where} has the key ${shown(String(key))}, which is not a secret name`,
      `${MINT_ALLOWED}; KEY is a letter or _, then letters, digits or _`,
    );
  }
  const at = `${where} (${key})`;
  const allowNoOrigin = flag(fields['allow-no-origin'], 'allow-no-origin', at);
  const originList =
    fields.origins === undefined
      ? []
      : typeof fields.origins === 'string'
        ? fields.origins.split(',').map((o) => o.trim())
        : Array.isArray(fields.origins) && fields.origins.every((o) => typeof o === 'string')
          ? (fields.origins as string[])
          : undefined;
  if (originList === undefined) throw mintUsage(at, { rule: 'no-origin' }, fields);
  for (const name of ['rps', 'spend'] as const) {
    if (fields[name] === undefined)
      throw usage('mint-tokens', `${at} needs ${name}`, `${name}= a whole number from 1 to ${MAX_CAP}`);
  }
  const request = {
    origins: originList,
    allowNoOrigin,
    ttlSeconds: fields.ttl === undefined ? DEFAULT_TTL_SECONDS : seconds(fields.ttl),
    rps: whole(fields.rps),
    burst: fields.burst === undefined ? undefined : whole(fields.burst),
    spend: whole(fields.spend),
    cost: fields.cost === undefined ? undefined : whole(fields.cost),
    maxClients: fields['max-clients'] === undefined ? undefined : whole(fields['max-clients']),
    clientRps: fields['client-rps'] === undefined ? undefined : whole(fields['client-rps']),
  };
  // The rules are the library's (tokens/claims.ts), with a job's lifetime; the words are this input's.
  const checked = checkMint(request, MAX_JOB_TTL_SECONDS);
  if (!checked.ok) throw mintUsage(at, checked.problem, fields);
  const spec: TokenSpec = {
    key,
    origins: checked.limits.origins,
    ...(allowNoOrigin ? { allowNoOrigin: true as const } : {}),
    ttlSeconds: request.ttlSeconds,
    rps: request.rps,
    spend: request.spend,
  };
  if (request.burst !== undefined) spec.burst = request.burst;
  if (request.cost !== undefined) spec.cost = request.cost;
  if (checked.limits.maxClients !== undefined) spec.maxClients = checked.limits.maxClients;
  if (checked.limits.clientRps !== undefined) spec.clientRps = checked.limits.clientRps;
  return spec;
}

/** A broken mint rule in the words of the `mint-tokens` input, quoting the field as given. */
function mintUsage(at: string, problem: MintProblem, fields: Record<string, unknown>): EggError {
  switch (problem.rule) {
    case 'no-origin':
    case 'too-many-origins':
      return usage(
        'mint-tokens',
        `${at} needs origins`,
        `1 to ${MAX_ORIGINS} comma-separated origins such as origins=https://app.example.com,http://localhost:5173, or allow-no-origin=true for a native app that sends no Origin`,
      );
    case 'origin':
      return usage(
        'mint-tokens',
        `${at} has the origin ${shown(problem.value)}`,
        'origins written scheme://host[:port] exactly, e.g. https://app.example.com, with no path',
      );
    case 'ttl':
      return usage(
        'mint-tokens',
        `${at} has ttl ${shown(String(fields.ttl))}`,
        `a lifetime from 1s to ${problem.max / 3600}h (no longer than a job may run), e.g. ttl=90s, ttl=30m, ttl=2h`,
      );
    case 'cap':
      return usage(
        'mint-tokens',
        `${at} has ${problem.field} ${shown(String(fields[problem.field]))}`,
        `${problem.field}= a whole number from 1 to ${MAX_CAP}`,
      );
    case 'max-clients':
      return usage(
        'mint-tokens',
        `${at} has max-clients ${shown(String(fields['max-clients']))}`,
        `max-clients= a whole number from 1 to ${problem.max}`,
      );
    case 'cost-above-spend':
      return usage(
        'mint-tokens',
        `${at} has cost ${problem.cost} above spend ${problem.spend}`,
        'a cost no larger than spend',
      );
  }
}

/** `90s`, `30m`, `2h` or plain seconds (a number or its digits) → seconds; NaN for anything else. */
function seconds(value: unknown): number {
  const text = typeof value === 'number' ? String(value) : value;
  const match = typeof text === 'string' ? /^(\d{1,6})(s|m|h)?$/.exec(text) : null;
  const unit = { s: 1, m: 60, h: 3600 }[(match?.[2] ?? 's') as 's' | 'm' | 'h'];
  return match === null ? Number.NaN : Number(match[1]) * unit;
}

/** A whole number given as a number or its digits; NaN for anything else (checkMint refuses it). */
function whole(value: unknown): number {
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^\d{1,13}$/.test(value) ? Number(value) : Number.NaN;
}

function flag(value: unknown, name: string, at: string): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw usage('mint-tokens', `${at} has ${name} ${shown(String(value))}`, `${name}=true or ${name}=false`);
}

const ROTATE_ALLOWED =
  'one token a line, `NAME=TOKEN_ID [grace=5m]`, or a JSON list of {"name", "id", "grace"}: NAME names the output token-NAME, TOKEN_ID is a token id (22 letters, digits, "_" or "-", see `egg tokens list`), grace is 0, 90s, 5m or 1h, at most 24h (default 5m)';
/** How long a rotated token keeps working when its line gives no grace (as `egg tokens rotate`). */
const DEFAULT_GRACE_SECONDS = 300;

/** `rotate-tokens`: one `NAME=TOKEN_ID [grace=5m]` a line, or a JSON list of {name, id, grace}. */
function rotateSpecs(text: string): RotateSpec[] {
  const trimmed = text.trim();
  const raw = trimmed.startsWith('[') ? jsonRotations(trimmed) : lineRotations(trimmed);
  if (raw.length > MAX_MINTED_TOKENS)
    throw usage('rotate-tokens', `asks for ${raw.length} tokens`, `at most ${MAX_MINTED_TOKENS} tokens`);
  const specs: RotateSpec[] = [];
  for (const [index, { name, id, grace }] of raw.entries()) {
    const at = `token ${index + 1}`;
    if (typeof name !== 'string' || !isSecretName(name))
      throw usage(
        'rotate-tokens',
        `${at} has the name ${shown(String(name))}, which is not a name`,
        `${ROTATE_ALLOWED}; NAME is a letter or _, then letters, digits or _`,
      );
    if (typeof id !== 'string' || !TOKEN_ID.test(id))
      throw usage('rotate-tokens', `${at} (${name}) has the id ${shown(String(id))}`, ROTATE_ALLOWED);
    const graceSeconds = grace === undefined ? DEFAULT_GRACE_SECONDS : seconds(grace);
    if (!(graceSeconds <= MAX_TTL_SECONDS))
      throw usage('rotate-tokens', `${at} (${name}) has grace ${shown(String(grace))}`, ROTATE_ALLOWED);
    for (const [field, value] of [
      ['name', name],
      ['id', id],
    ] as const)
      if (specs.some((spec) => spec[field] === value))
        throw usage('rotate-tokens', `names ${value} twice`, `${ROTATE_ALLOWED}; each ${field} once`);
    specs.push({ name, id, graceSeconds });
  }
  return specs;
}

interface RawRotation {
  name: unknown;
  id: unknown;
  grace?: unknown;
}

function lineRotations(text: string): RawRotation[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line, index) => {
      const [pair, ...rest] = line.split(/\s+/) as [string, ...string[]];
      const eq = pair.indexOf('=');
      const grace = rest[0]?.startsWith('grace=') ? rest[0].slice(6) : undefined;
      if (eq < 1 || rest.length !== (grace === undefined ? 0 : 1))
        throw usage('rotate-tokens', `line ${index + 1} is ${shown(line)}`, ROTATE_ALLOWED);
      return { name: pair.slice(0, eq), id: pair.slice(eq + 1), grace };
    });
}

function jsonRotations(text: string): RawRotation[] {
  return jsonObjects(text, 'rotate-tokens', ['name', 'id', 'grace'], ROTATE_ALLOWED).map(
    ({ name, id, grace }) => ({ name, id, grace }),
  );
}
