/**
 * The Action's main step: (aws) OIDC token → STS → DynamoDB and KMS with the temporary
 * credentials, (local) the SQLite vault in `egg-home`, or (api) the job's OIDC token as the
 * bearer of the API's pull; pull with per-read rotation;
 * register every mask; then write the dotenv file, export env, set outputs; record what was
 * written for the post step; summarise names and counts, and the audit head the pull saw (its
 * own read record: a trail later cut below it, or rewritten at it, disagrees with this job's
 * log). Fails once, at the edge.
 *
 * Order matters: nothing that can carry a value (env file, output file, dotenv file) is
 * written before every mask for every value is registered.
 */
import { describeExpiry, expiresWithin, isExpired } from '../expiry.js';
import { join } from 'node:path';
import type { Backend } from '../backends/backend.js';
import { osActor } from '../actor.js';
import { openLocalBackend } from '../backends/local.js';
import type { EggConfig } from '../config.js';
import { wipe } from '../crypto/wipe.js';
import { EggError } from '../errors.js';
import { isEnvText, leftOut, NOT_ENV_TEXT } from '../formats/bytes.js';
import { formatSecrets } from '../formats/index.js';
import { defaultHome } from '../home.js';
import type { Logger } from '../log.js';
import { type PullResult, Vault } from '../vault/vault.js';
import { sessionNameFor } from '../auth/sts.js';
import { fetchIdToken } from '../auth/oidc-token.js';
import { apiTokens, apiVault } from '../api/remote.js';
import type { TokensPort, VaultPort } from '../backends/vault-port.js';
import { explainAccessDenied } from './access-denied.js';
import { type Exchanged, exchangeToken, sdkCredentials } from './aws-credentials.js';
import { runnerTemp, writeRunnerFile } from './files.js';
import { type ActionInputs, type AwsInputs, type LocalInputs, readInputs } from './inputs.js';
import { maskForms } from '../run/mask-forms.js';
import { failureMessage, runnerLogger } from './report.js';
import { actionsRunner, type Runner } from './runner.js';
import { STATE_FILES, STATE_TOKEN_VAULT, STATE_TOKENS, type TokenVault } from './state.js';
import { parseTags } from '../tokens/claims.js';
import type { MintedToken } from '../tokens/tokens.js';
import { type Rotation, rotateTokens } from './rotate-tokens.js';

export interface RunOptions {
  runner?: Runner;
  env?: NodeJS.ProcessEnv;
}

/** One secret as it leaves the step: exported under `env`. */
interface Export {
  env: string;
  name: string;
  value: string;
}

/** Run the main step; never throws (failures go to `setFailed`). */
export async function run(options: RunOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const runner = options.runner ?? actionsRunner(env);
  try {
    await main(runner, env);
  } catch (error) {
    runner.setFailed(failureMessage(error));
    if (runner.isDebug() && error instanceof Error && error.stack !== undefined) runner.debug(error.stack);
  }
}

/** What the pull hands on: the result, each secret as exported, those left out, and the dotenv file's bytes. */
interface Pulled {
  result: PullResult;
  exports: Export[];
  /** Secrets whose values an environment variable cannot carry (`isEnvText`): not exported, each warned of. */
  leftOut: string[];
  dotenv: Buffer | undefined;
}

/** pull → mask → (mint) → write → export → report; the backend closed and every value wiped after. */
async function main(runner: Runner, env: NodeJS.ProcessEnv): Promise<void> {
  const inputs = readInputs((name) => runner.getInput(name));
  const logger = runnerLogger(runner);
  // Where token ids minted by this job are recorded, each as it is minted, for the post step to revoke.
  runner.saveState(STATE_TOKENS, '[]');
  // Checked before anything is read: a step that cannot write its files fails first.
  const temp =
    inputs.dotenvFile !== undefined || (inputs.backend === 'aws' && inputs.webIdentityTokenFile)
      ? runnerTemp(env)
      : undefined;
  const { vault, tokens, backend, session } = await openStep(inputs, runner, env, logger);
  let pulled: Pulled | undefined;
  try {
    pulled = await pull(inputs, vault);
    for (const name of pulled.leftOut)
      runner.warning(
        `${leftOut(name, NOT_ENV_TEXT, 'the environment, the outputs and the dotenv file')}; read it with \`egg secrets get ${name}\` or \`egg secrets pull --format json\``,
      );
    mask(inputs, pulled.exports, runner);
    // Tokens: each masked and its id recorded as soon as it exists; set as outputs below,
    // so a key that cannot be minted for leaves nothing exported.
    const minted =
      inputs.mintTokens === undefined ? [] : await mintTokens(inputs, await tokens(), runner, env);
    // Rotations: every id checked before the first; each successor masked at once, voided
    // again if the step fails before its outputs are set.
    const rotations =
      inputs.rotateTokens === undefined ? undefined : await rotateTokens(inputs, await tokens(), runner);
    const rotated = rotations?.done ?? [];
    let files: Written;
    try {
      files = temp === undefined ? NOTHING_WRITTEN : write(inputs, pulled, session, temp, runner, env);
      exportAll(inputs, pulled.exports, session, files, minted, rotated, runner, env);
    } catch (error) {
      await rotations?.undo();
      throw error;
    }
    await report(inputs, pulled, files.dotenvPath, minted, rotated, runner);
  } catch (error) {
    if (inputs.backend !== 'aws') throw error;
    throw explainAccessDenied(error, {
      roleArn: inputs.roleToAssume,
      namespace: inputs.namespace,
      table: inputs.table,
      kmsKeyId: inputs.kmsKeyId,
      signingKeyId: inputs.signingKeyId,
      rotation: inputs.rotation,
    });
  } finally {
    for (const secret of pulled?.result.secrets ?? []) wipe(secret.value);
    await backend?.close();
  }
}

/** What a step pulls from: a vault opened here, or the API's. */
type StepVault = Pick<VaultPort, 'pull'>;

/**
 * The aws step's vault on its STS session, the local vault as the OS user, or (api) the
 * namespace on the API with the job's OIDC token (masked on arrival), which opens nothing here.
 */
async function openStep(
  inputs: ActionInputs,
  runner: Runner,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<{ vault: StepVault; tokens: () => Promise<TokensPort>; backend?: Backend; session?: AwsSession }> {
  if (inputs.backend === 'api') {
    const token = await fetchIdToken(inputs.apiAudience, { env, logger, mask: (v) => runner.setSecret(v) });
    return {
      vault: apiVault(inputs.apiUrl, token, inputs.namespace),
      tokens: async () => apiTokens(inputs.apiUrl, token, inputs.namespace),
    };
  }
  const vaultOf = (backend: Backend) =>
    new Vault({ ...backend, namespace: inputs.namespace, logger, rotation: inputs.rotation });
  // Loaded only when asked: the token modules bring jose, which a step without tokens never needs.
  const tokensOf = (backend: Backend) => async () =>
    (await import('../backends/open-backend.js')).tokensOn(backend, inputs.namespace);
  if (inputs.backend === 'local') {
    const backend = openLocalBackend(localHome(inputs, env), {}, { actor: osActor(env) });
    return { vault: vaultOf(backend), tokens: tokensOf(backend), backend };
  }
  const session = await openAws(inputs, runner, env, logger);
  return {
    vault: vaultOf(session.backend),
    tokens: tokensOf(session.backend),
    backend: session.backend,
    session,
  };
}

/**
 * Read the secrets (rotating their data keys), each as it will be exported: UTF-8 text
 * without NUL (any other is left out, as `egg run` leaves it out) under a name that
 * replaces nothing the runner needs; and the dotenv file's bytes. Any refusal here comes
 * before a single mask or write.
 */
async function pull(inputs: ActionInputs, vault: StepVault): Promise<Pulled> {
  const mappings = inputs.secrets === '*' ? undefined : inputs.secrets;
  const result = await vault.pull(
    mappings === undefined ? undefined : [...new Set(mappings.map((m) => m.name))],
  );
  try {
    const byName = new Map(result.secrets.map((secret) => [secret.name, secret.value]));
    const exports: Export[] = [];
    const left = new Set<string>();
    for (const m of mappings ?? result.secrets.map((s) => ({ env: s.name, name: s.name }))) {
      // A pull without allowMissing returned every name asked for, or threw.
      const value = byName.get(m.name) ?? Buffer.alloc(0);
      if (isEnvText(value)) exports.push({ ...m, value: value.toString('utf8') });
      else left.add(m.name);
    }
    if (inputs.exportEnv) for (const e of exports) assertExportable(e);
    const dotenv =
      inputs.dotenvFile === undefined
        ? undefined
        : formatSecrets(
            exports.map((e) => ({ name: e.env, value: Buffer.from(e.value, 'utf8') })),
            'dotenv',
          );
    return { result, exports, leftOut: [...left], dotenv };
  } catch (error) {
    for (const secret of result.secrets) wipe(secret.value);
    throw error;
  }
}

/** Register every mask form of every value, before anything that could carry one is written. */
function mask(inputs: ActionInputs, exports: readonly Export[], runner: Runner): void {
  for (const e of exports)
    for (const form of maskForms(e.value, inputs.maskEncodings)) runner.setSecret(form);
}

/** The files this step wrote, each recorded for the post step before it is written. */
interface Written {
  dotenvPath: string | undefined;
  tokenFile: string | undefined;
}

const NOTHING_WRITTEN: Written = { dotenvPath: undefined, tokenFile: undefined };

/**
 * Files first (the dotenv file, the web-identity token): they are the writes most likely to
 * be refused (a planted symlink), and a refusal then leaves nothing exported.
 */
function write(
  inputs: ActionInputs,
  { dotenv }: Pulled,
  session: AwsSession | undefined,
  temp: string,
  runner: Runner,
  env: NodeJS.ProcessEnv,
): Written {
  const written: string[] = [];
  const recordFile = (path: string) => {
    written.push(path);
    runner.saveState(STATE_FILES, JSON.stringify(written));
  };
  let dotenvPath: string | undefined;
  if (dotenv !== undefined && inputs.dotenvFile !== undefined) {
    dotenvPath = join(temp, inputs.dotenvFile);
    recordFile(dotenvPath);
    try {
      writeRunnerFile(temp, inputs.dotenvFile, dotenv, 'secrets');
    } finally {
      wipe(dotenv);
    }
  }
  const tokenFile =
    session !== undefined && inputs.backend === 'aws' && inputs.webIdentityTokenFile
      ? writeTokenFile(session, env, temp, recordFile)
      : undefined;
  return { dotenvPath, tokenFile };
}

/** Environment (the secrets, then the AWS session when asked) and outputs. */
function exportAll(
  inputs: ActionInputs,
  exports: readonly Export[],
  session: AwsSession | undefined,
  { dotenvPath, tokenFile }: Written,
  minted: readonly { key: string; minted: MintedToken }[],
  rotated: readonly Rotation[],
  runner: Runner,
  env: NodeJS.ProcessEnv,
): void {
  if (inputs.exportEnv) for (const e of exports) runner.exportVariable(e.env, e.value);
  if (session !== undefined && inputs.backend === 'aws') exportAws(session, inputs, runner, env, tokenFile);
  if (inputs.outputs) for (const e of exports) runner.setOutput(e.env, e.value);
  if (dotenvPath !== undefined) runner.setOutput('dotenv-path', dotenvPath);
  runner.setOutput('secret-names', exports.map((e) => e.env).join(','));
  for (const { key, minted: token } of minted) runner.setOutput(`token-${key}`, token.token);
  if (minted.length > 0) runner.setOutput('token-ids', minted.map((m) => m.minted.id).join(','));
  for (const { name, rotated: r } of rotated) runner.setOutput(`token-${name}`, r.successor.token);
  if (rotated.length > 0)
    runner.setOutput(
      'rotated-token-ids',
      rotated.map((r) => `${r.rotated.id}:${r.rotated.successor.id}`).join(','),
    );
}

/** Names and counts in the log and the job summary, and the audit head the pull saw; never a value. */
async function report(
  inputs: ActionInputs,
  { result, exports, leftOut: left }: Pulled,
  dotenvPath: string | undefined,
  minted: readonly { key: string; minted: MintedToken }[],
  rotations: readonly Rotation[],
  runner: Runner,
): Promise<void> {
  const { rotated, skipped, failed, deferred } = result.rotation;
  const count = `${exports.length} secret${exports.length === 1 ? '' : 's'}`;
  runner.info(
    `Pulled ${count} from ${inputs.namespace}` +
      (exports.length === 0 ? '' : `: ${exports.map((e) => e.env).join(', ')}`) +
      `. Data keys rotated: ${rotated}` +
      (skipped + failed + deferred === 0
        ? '.'
        : ` (skipped ${skipped}, failed ${failed}, deferred ${deferred}).`),
  );
  if (exports.length === 0 && left.length === 0)
    runner.warning(`namespace ${inputs.namespace} holds no secrets; nothing was exported`);
  const now = new Date();
  for (const { name, expires } of result.secrets)
    if (expires !== undefined && expiresWithin(expires, now, inputs.expiryWarningDays))
      runner.warning(
        `${name} ${describeExpiry(expires, now)} (${expires}); ${isExpired(expires, now) ? 'store a new value' : 'store a new value before then'}`,
      );
  if (failed > 0)
    runner.warning(
      `${failed} data key rotation${failed === 1 ? '' : 's'} failed; the secrets were read but keep their previous data key`,
    );
  for (const { key, minted: token } of minted) {
    runner.info(
      `Minted a token for ${key}: id ${token.id}, expires ${token.expiresAt}, output token-${key}.`,
    );
  }
  for (const { name, rotated: r } of rotations) {
    runner.info(
      `Rotated token ${r.id} for ${name}: successor ${r.successor.id}, expires ${r.successor.expiresAt}, output token-${name} (not revoked by the post step); ${r.id} stops at ${r.stopsAt}.`,
    );
  }
  // The pull's own append returned it: no extra request.
  runner.info(
    `Audit trail of ${inputs.namespace}: this job's read is record ${result.audit.seq}, hash ${result.audit.hash.slice(0, 16)}.`,
  );
  await runner.appendSummary(summary(inputs, exports, result, dotenvPath, minted, rotations));
}

/**
 * Mint the `mint-tokens` tokens tagged with the run, attempt and repository: in the local
 * vault, (aws) with the KMS signing key and the table's token store through the step's own
 * STS session, or (api) on the API's server with the job's OIDC token. Each token is masked
 * before anything else sees it, and its id saved to the state at once, so the post step
 * revokes whatever was minted even if a later mint fails.
 */
async function mintTokens(
  inputs: ActionInputs,
  tokens: TokensPort,
  runner: Runner,
  env: NodeJS.ProcessEnv,
): Promise<{ key: string; minted: MintedToken }[]> {
  const tags = parseTags(
    [
      ['run', env.GITHUB_RUN_ID],
      ['attempt', env.GITHUB_RUN_ATTEMPT],
      ['repo', env.GITHUB_REPOSITORY],
    ]
      .filter(([, value]) => value !== undefined && value !== '')
      .map(([name, value]) => `${name}=${value}`),
  );
  runner.saveState(STATE_TOKEN_VAULT, JSON.stringify(tokenVault(inputs, env)));
  const minted: { key: string; minted: MintedToken }[] = [];
  const ids: string[] = [];
  for (const spec of inputs.mintTokens ?? []) {
    const token = await tokens.mint({ ...spec, tags });
    for (const form of maskForms(token.token, inputs.maskEncodings)) runner.setSecret(form);
    ids.push(token.id);
    runner.saveState(STATE_TOKENS, JSON.stringify(ids));
    minted.push({ key: spec.key, minted: token });
  }
  return minted;
}

/**
 * Where the post step revokes: names only, since GITHUB_STATE is readable by later steps;
 * the post step re-assumes the role (aws) or requests its own OIDC token (api) itself.
 */
function tokenVault(inputs: ActionInputs, env: NodeJS.ProcessEnv): TokenVault {
  if (inputs.backend === 'local')
    return { backend: 'local', home: localHome(inputs, env), namespace: inputs.namespace };
  if (inputs.backend === 'api')
    return { backend: 'api', url: inputs.apiUrl, namespace: inputs.namespace, audience: inputs.apiAudience };
  return {
    backend: 'aws',
    region: inputs.awsRegion,
    table: inputs.table,
    namespace: inputs.namespace,
    roleArn: inputs.roleToAssume,
    audience: inputs.audience,
  };
}

/** The aws path's session: the backend opened with the STS credentials, and what may be handed on. */
interface AwsSession {
  /** Every adapter, signed with the STS credentials (for this process only, never saved). */
  backend: Backend;
  exchanged: Exchanged;
}

/** STS credentials from the job's OIDC token, then the DynamoDB store and KMS keyring with them. */
async function openAws(
  inputs: AwsInputs,
  runner: Runner,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<AwsSession> {
  const exchange = exchangeToken(
    {
      roleArn: inputs.roleToAssume,
      audience: inputs.audience,
      region: inputs.awsRegion,
      durationSeconds: inputs.roleSessionDuration,
    },
    env,
    logger,
    (value) => runner.setSecret(value),
  );
  // Load the backend, the SDK clients, the store and the keyring while the token and STS round
  // trips are in flight, so openAwsBackend finds every module it imports loaded. One turn of
  // the event loop first: compiling the SDK blocks the loop, and the token request should be
  // on the wire before it does.
  const modules = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
    Promise.all([import(/* webpackMode: "eager" */ '../backends/aws.js'), ...awsModules(inputs)]),
  );
  modules.catch(() => undefined);
  const exchanged = await exchange;
  const { credentials } = exchanged;
  const config: EggConfig = {
    backend: 'aws',
    home: defaultHome(env),
    namespace: inputs.namespace,
    keyring: inputs.keyring,
    rotation: inputs.rotation,
    region: inputs.awsRegion,
    table: inputs.table,
    kmsKeyId: inputs.kmsKeyId,
  };
  if (inputs.signingKeyId !== undefined) config.signingKeyId = inputs.signingKeyId;
  const [{ openAwsBackend }] = await modules;
  const identity = { actor: credentials.assumedRoleArn, credentials: sdkCredentials(credentials) };
  return { backend: await openAwsBackend(config, identity, { logger }), exchanged };
}

/**
 * The modules openAwsBackend imports (src/backends/aws.ts, clients.ts), and those its token
 * store and signer import for `mint-tokens`, to load them early.
 */
function awsModules(inputs: AwsInputs): Promise<unknown>[] {
  return [
    import('../aws/clients.js'),
    import('@aws-sdk/client-dynamodb'),
    import('@aws-sdk/client-kms'),
    import('../stores/dynamodb.js'),
    inputs.keyring === 'kms-hierarchical'
      ? import('../keyrings/kms-hierarchical.js')
      : import('../keyrings/kms.js'),
    ...(inputs.mintTokens === undefined && inputs.rotateTokens === undefined
      ? []
      : [
          import('../backends/open-backend.js'),
          import('../tokens/kms-signer.js'),
          import('../tokens/dynamodb-token-store.js'),
        ]),
  ];
}

/**
 * Write the web-identity token file, the one write of this hand-off that can be refused;
 * called after the pull succeeded, so a failed step leaves no token behind.
 */
function writeTokenFile(
  session: AwsSession,
  env: NodeJS.ProcessEnv,
  temp: string,
  recordFile: (path: string) => void,
): string {
  const name = `egg-web-identity-${env.GITHUB_RUN_ID ?? 'run'}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${process.pid}.jwt`;
  recordFile(join(temp, name));
  return writeRunnerFile(temp, name, Buffer.from(session.exchanged.token, 'utf8'), 'the web-identity token');
}

/**
 * Hand the AWS session to later steps, when asked: the temporary credentials
 * (`export-aws-credentials`), and the role and token file (`web-identity-token-file`) from
 * which later steps' SDKs re-assume the role on their own (configure-aws-credentials #359).
 */
function exportAws(
  session: AwsSession,
  inputs: AwsInputs,
  runner: Runner,
  env: NodeJS.ProcessEnv,
  tokenFile: string | undefined,
): void {
  const { credentials } = session.exchanged;
  if (inputs.exportAwsCredentials) {
    for (const value of [credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken]) {
      runner.setSecret(value);
    }
    runner.exportVariable('AWS_ACCESS_KEY_ID', credentials.accessKeyId);
    runner.exportVariable('AWS_SECRET_ACCESS_KEY', credentials.secretAccessKey);
    runner.exportVariable('AWS_SESSION_TOKEN', credentials.sessionToken);
  }
  if (tokenFile !== undefined) {
    runner.exportVariable('AWS_ROLE_ARN', inputs.roleToAssume);
    runner.exportVariable('AWS_WEB_IDENTITY_TOKEN_FILE', tokenFile);
    // The SDKs' fromTokenFile reads it, so later sessions show in CloudTrail as this run's.
    runner.exportVariable('AWS_ROLE_SESSION_NAME', sessionNameFor(env));
  }
  if (inputs.exportAwsCredentials || tokenFile !== undefined) {
    runner.exportVariable('AWS_REGION', inputs.awsRegion);
    runner.exportVariable('AWS_DEFAULT_REGION', inputs.awsRegion);
  }
}

/** The local vault: `egg-home`, else EGG_HOME or ~/.egg. */
function localHome(inputs: LocalInputs, env: NodeJS.ProcessEnv): string {
  return inputs.eggHome ?? defaultHome(env);
}

/** Names the runner or later steps depend on; a secret must not silently replace them. */
const RESERVED =
  /^(GITHUB_|RUNNER_|ACTIONS_)|^(PATH|NODE_OPTIONS|BASH_ENV|ENV|LD_PRELOAD|LD_LIBRARY_PATH|HOME)$/;

function assertExportable(e: Export): void {
  if (RESERVED.test(e.env)) {
    throw new EggError(
      'ERR_USAGE',
      `secret ${e.name} would replace the runner's ${e.env} variable; refusing to export it`,
      {
        hint: `export it under another name with a line like \`MY_${e.env}=${e.name}\` in the secrets input`,
      },
    );
  }
}

function summary(
  inputs: ActionInputs,
  exports: readonly Export[],
  { rotation, audit }: Pick<Awaited<ReturnType<Vault['pull']>>, 'rotation' | 'audit'>,
  dotenvPath: string | undefined,
  minted: readonly { key: string; minted: MintedToken }[] = [],
  rotated: readonly Rotation[] = [],
): string {
  const where = [
    inputs.exportEnv ? 'environment' : undefined,
    inputs.outputs ? 'step outputs' : undefined,
    dotenvPath === undefined ? undefined : `dotenv file \`${inputs.dotenvFile}\``,
  ].filter((w) => w !== undefined);
  const lines = [
    '### Egg Carton',
    '',
    `Pulled **${exports.length}** secret${exports.length === 1 ? '' : 's'} from \`${inputs.namespace}\` (${inputs.backend} backend) into ${where.length === 0 ? 'nothing' : where.join(', ')}.`,
    `Data keys rotated: ${rotation.rotated}; skipped ${rotation.skipped}, failed ${rotation.failed}, deferred ${rotation.deferred}.`,
    '',
  ];
  if (exports.length > 0) {
    lines.push(
      '| Secret | Exported as |',
      '| --- | --- |',
      ...exports.map((e) => `| \`${e.name}\` | \`${e.env}\` |`),
      '',
    );
  }
  lines.push(
    `Audit trail: this job's read is record **${audit.seq}** of \`${inputs.namespace}\`, hash \`${audit.hash}\`. \`egg audit verify\` must find it there, unchanged; a trail shorter than that was cut.`,
    '',
  );
  if (minted.length > 0) {
    lines.push(
      `Minted **${minted.length}** token${minted.length === 1 ? '' : 's'}, revoked by the post step:`,
      '',
      '| Key | Output | Token id | Expires |',
      '| --- | --- | --- | --- |',
      ...minted.map(
        ({ key, minted: t }) => `| \`${key}\` | \`token-${key}\` | \`${t.id}\` | ${t.expiresAt} |`,
      ),
      '',
    );
  }
  if (rotated.length > 0) {
    lines.push(
      `Rotated **${rotated.length}** token${rotated.length === 1 ? '' : 's'}; the successors are not revoked by the post step:`,
      '',
      '| Output | Old token id | Stops at | Successor id | Expires |',
      '| --- | --- | --- | --- | --- |',
      ...rotated.map(
        ({ name, rotated: r }) =>
          `| \`token-${name}\` | \`${r.id}\` | ${r.stopsAt} | \`${r.successor.id}\` | ${r.successor.expiresAt} |`,
      ),
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}
