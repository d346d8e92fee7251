/**
 * The Action's post step (`post-if: always()`): undoes exactly what its main step recorded
 * with `saveState`, and says why whenever it skips something. It deletes only files
 * directly inside RUNNER_TEMP, whatever the state says.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { EggError } from '../errors.js';
import { isDirectlyInside } from './files.js';
import { isNamespace } from '../names.js';
import type { Backend } from '../backends/backend.js';
import type { TokensPort } from '../backends/vault-port.js';
import { osActor } from '../actor.js';
import type { EggConfig } from '../config.js';
import { AUDIENCE, isApiUrl, REGION, ROLE_ARN, TABLE } from './inputs.js';
import { failureMessage, runnerLogger } from './report.js';
import { actionsRunner, type Runner } from './runner.js';
import {
  type ApiTokenVault,
  type AwsTokenVault,
  type LocalTokenVault,
  STATE_FILES,
  STATE_TOKEN_VAULT,
  STATE_TOKENS,
  type TokenVault,
} from './state.js';

export interface PostOptions {
  runner?: Runner;
  env?: NodeJS.ProcessEnv;
  /** Where token revocation plugs in (tests); by default revokeMintedTokens. */
  revokeTokens?: (ids: readonly string[], runner: Runner, env: NodeJS.ProcessEnv) => Promise<void>;
}

/** Run the post step; never throws (failures go to `setFailed`). */
export async function run(options: PostOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const runner = options.runner ?? actionsRunner(env);
  try {
    const problems: string[] = [];
    const files = recorded(runner, STATE_FILES);
    const tokens = recorded(runner, STATE_TOKENS);
    if (files === undefined && tokens === undefined) {
      runner.info('The main step recorded nothing (it failed before writing anything); nothing to clean up.');
      return;
    }
    try {
      await (options.revokeTokens ?? revokeMintedTokens)(tokens ?? [], runner, env);
    } catch (error) {
      problems.push(failureMessage(error));
    }
    for (const path of files ?? []) {
      const problem = deleteRecorded(path, env, runner);
      if (problem !== undefined) problems.push(problem);
    }
    if (problems.length > 0) runner.setFailed(problems.join('\n'));
  } catch (error) {
    runner.setFailed(failureMessage(error));
  }
}

/**
 * Revoke the tokens this job minted, through the vault the main step minted them in (saved as
 * STATE_TOKEN_VAULT). Messages name ids and counts, never tokens. A revocation that fails is
 * a warning naming the ids and the command that revokes them, not a failed step: the ids stay
 * in view, and the tokens expire with their ttl regardless.
 */
export async function revokeMintedTokens(
  ids: readonly string[],
  runner: Runner,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (ids.length === 0) {
    runner.info('No tokens were minted by this job; nothing to revoke.');
    return;
  }
  const vault = tokenVault(runner);
  if (vault === undefined) {
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `the main step recorded ${ids.length} token(s) but not the vault they were minted in`,
      { hint: revokeHint(ids, env, undefined) },
    );
  }
  let result: Revoked;
  try {
    result =
      vault.backend === 'local'
        ? await revokeLocal(vault, ids, osActor(env))
        : vault.backend === 'api'
          ? await revokeApi(vault, ids, runner, env)
          : await revokeAws(vault, ids, runner, env);
  } catch (error) {
    const reason = failureReason(error);
    const failed = new EggError(
      'ERR_INVALID_CONFIG',
      `could not revoke the ${ids.length} token(s) this job minted in ${vault.namespace}: ${reason}`,
      { hint: `${revokeHint(ids, env, vault)}; otherwise they stay valid until they expire` },
    );
    runner.warning(failureMessage(failed));
    return;
  }
  const n = result.revoked.length;
  runner.info(`Revoked ${n} token${n === 1 ? '' : 's'} minted by this job in ${vault.namespace}.`);
  if (typeof result.summary === 'string') await runner.appendSummary(result.summary);
  else
    runner.warning(
      `Could not read the usage of the tokens this job minted, so the job summary leaves it out: ${failureReason(result.summary.error)}.`,
    );
  if (result.unknown.length > 0) {
    runner.warning(
      `${result.unknown.length} recorded token id(s) were not found in ${vault.namespace} (revoked anyway): ${result.unknown.join(', ')}`,
    );
  }
}

/** The first line of what failed, without its full stop, to end a sentence of ours. */
function failureReason(error: unknown): string {
  return (failureMessage(error).split('\n')[0] as string).replace(/\.$/, '');
}

/** `revoke them with \`egg tokens revoke … --tag run=<id>\` (ids: …)`, naming the vault when it is known. */
function revokeHint(ids: readonly string[], env: NodeJS.ProcessEnv, vault: TokenVault | undefined): string {
  const command = [
    vault?.backend === 'aws'
      ? `EGG_TABLE=${vault.table} egg tokens revoke --backend aws`
      : vault?.backend === 'api'
        ? `EGG_API_URL=${vault.url} egg tokens revoke --backend api`
        : 'egg tokens revoke',
    vault === undefined ? undefined : `--namespace ${vault.namespace}`,
    `--tag run=${env.GITHUB_RUN_ID || '<run id>'}`,
  ].filter((part) => part !== undefined);
  return `revoke them with \`${command.join(' ')}\` (ids: ${ids.join(', ')})`;
}

/** What revoking did, and the usage summary read before it (or why it could not be read). */
interface Revoked {
  revoked: string[];
  unknown: string[];
  summary: string | { error: unknown };
}

/** The local vault the main step minted in, as the OS user and run (main's actor). */
async function revokeLocal(vault: LocalTokenVault, ids: readonly string[], actor: string): Promise<Revoked> {
  const { openLocalBackend } = await import('../backends/local.js');
  const backend = openLocalBackend(vault.home, {}, { actor });
  try {
    return await revokeIn(vault.namespace, backend, ids);
  } finally {
    await backend.close();
  }
}

/**
 * The aws vault: the main step's STS credentials were never saved (GITHUB_STATE is readable
 * by later steps), so this step trades a fresh OIDC token for its own, as the main step did,
 * and revokes through the table's token store. The backend is keyless: only the DynamoDB
 * client loads, no KMS.
 */
async function revokeAws(
  vault: AwsTokenVault,
  ids: readonly string[],
  runner: Runner,
  env: NodeJS.ProcessEnv,
): Promise<Revoked> {
  const [{ exchangeToken, sdkCredentials }, { openAwsBackend }] = await Promise.all([
    import('./aws-credentials.js'),
    import('../backends/aws.js'),
  ]);
  const logger = runnerLogger(runner);
  const { credentials } = await exchangeToken(
    // STS's shortest session: a few calls need no more.
    { roleArn: vault.roleArn, audience: vault.audience, region: vault.region, durationSeconds: 900 },
    env,
    logger,
    (value) => runner.setSecret(value),
  );
  const config: EggConfig = {
    backend: 'aws',
    home: '',
    namespace: vault.namespace,
    keyring: 'kms',
    rotation: 'inline',
    region: vault.region,
    table: vault.table,
  };
  const identity = { actor: credentials.assumedRoleArn, credentials: sdkCredentials(credentials) };
  const backend = await openAwsBackend(config, identity, { logger, keyless: true });
  try {
    return await revokeIn(vault.namespace, backend, ids);
  } finally {
    await backend.close();
  }
}

/**
 * The api vault: the main step's OIDC token was never saved (GITHUB_STATE is readable by later
 * steps), so this step requests its own for the same audience, masks it, and revokes through
 * the API, which records the revocation as this job.
 */
async function revokeApi(
  vault: ApiTokenVault,
  ids: readonly string[],
  runner: Runner,
  env: NodeJS.ProcessEnv,
): Promise<Revoked> {
  const [{ fetchIdToken }, { apiTokens }] = await Promise.all([
    import('../auth/oidc-token.js'),
    import('../api/remote.js'),
  ]);
  const logger = runnerLogger(runner);
  const token = await fetchIdToken(vault.audience, { env, logger, mask: (v) => runner.setSecret(v) });
  return summarizeAndRevoke(vault.namespace, apiTokens(vault.url, token, vault.namespace), ids);
}

/** Summarize and revoke `ids` in `namespace` with a Tokens that can revoke and audit but never sign. */
async function revokeIn(namespace: string, backend: Backend, ids: readonly string[]): Promise<Revoked> {
  const { Tokens } = await import('../tokens/tokens.js');
  const refuse = (): never => {
    throw new EggError('ERR_USAGE', 'the post step only revokes tokens');
  };
  const tokens = new Tokens({
    namespace,
    signer: { kind: 'local', kid: refuse, sign: refuse, publicKey: refuse, close: () => {} },
    tokens: await backend.tokenStore(),
    secrets: backend.store,
    actor: backend.actor,
  });
  return summarizeAndRevoke(namespace, tokens, ids);
}

/** Read the usage of `ids` for the job summary, then revoke them; a failed read never holds back the revocation. */
async function summarizeAndRevoke(
  namespace: string,
  tokens: Pick<TokensPort, 'list' | 'usage' | 'revoke'>,
  ids: readonly string[],
): Promise<Revoked> {
  const summary = await readSummary(namespace, tokens, ids).catch((error: unknown) => ({ error }));
  return { ...(await tokens.revoke(ids, {})), summary };
}

/**
 * The job summary's usage table for `ids` (action/usage-summary.ts), through the tokens of
 * any backend (the API's too). `list` says which are priced, so their spend is shown in
 * units as `egg tokens list` shows it.
 */
async function readSummary(
  namespace: string,
  tokens: Pick<TokensPort, 'list' | 'usage'>,
  ids: readonly string[],
): Promise<string> {
  const [{ usageSummary }, { USAGE_KEEP_SECONDS }] = await Promise.all([
    import('./usage-summary.js'),
    import('../tokens/usage-store.js'),
  ]);
  const wanted = new Set(ids);
  const records = (await tokens.list()).filter((r) => wanted.has(r.id));
  return usageSummary(namespace, ids, records, await tokens.usage(ids, USAGE_KEEP_SECONDS));
}

/** The vault the main step saved, checked field by field: it decides which role this step assumes. */
function tokenVault(runner: Runner): TokenVault | undefined {
  const text = runner.getState(STATE_TOKEN_VAULT);
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const has = (name: string, pattern?: RegExp) =>
    typeof v[name] === 'string' && v[name] !== '' && (pattern === undefined || pattern.test(v[name]));
  if (typeof v.namespace === 'string' && isNamespace(v.namespace)) {
    if (v.backend === 'local' && has('home')) {
      return { backend: 'local', home: v.home as string, namespace: v.namespace };
    }
    if (v.backend === 'api' && has('url') && isApiUrl(v.url as string) && has('audience', AUDIENCE)) {
      return { backend: 'api', url: v.url as string, namespace: v.namespace, audience: v.audience as string };
    }
    if (
      v.backend === 'aws' &&
      has('region', REGION) &&
      has('table', TABLE) &&
      has('roleArn', ROLE_ARN) &&
      has('audience', AUDIENCE)
    ) {
      return {
        backend: 'aws',
        region: v.region as string,
        table: v.table as string,
        namespace: v.namespace,
        roleArn: v.roleArn as string,
        audience: v.audience as string,
      };
    }
  }
  throw new EggError('ERR_INVALID_CONFIG', `the main step's saved state "${STATE_TOKEN_VAULT}" is malformed`);
}

/** A JSON array of strings saved by the main step, or undefined when it saved none. */
function recorded(runner: Runner, name: string): string[] | undefined {
  const text = runner.getState(name);
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `the main step's saved state "${name}" is not a list of strings`,
    );
  }
  return value;
}

/** Delete one recorded file; a problem to report, or undefined when it is gone (or was never made). */
function deleteRecorded(path: string, env: NodeJS.ProcessEnv, runner: Runner): string | undefined {
  const temp = env.RUNNER_TEMP;
  if (!temp || !isDirectlyInside(temp, path)) {
    runner.warning(
      `Skipped ${path}: it is not directly inside RUNNER_TEMP, so this step will not delete it.`,
    );
    return undefined;
  }
  try {
    // unlink removes a symlink itself, never its target.
    const stat = lstatSync(path);
    unlinkSync(path);
    runner.info(`Deleted ${path}${stat.isFile() ? '' : ' (it was not a regular file)'}.`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      runner.info(`Skipped ${path}: already gone.`);
      return undefined;
    }
    return `could not delete ${path} (${code ?? 'error'}); it holds secrets, delete it before the runner is reused`;
  }
  return undefined;
}
