/**
 * The Action's post step (`post-if: always()`): undoes exactly what its main step recorded
 * with `saveState`, and says why whenever it skips something. It deletes only files
 * directly inside RUNNER_TEMP, whatever the state says.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { osActor } from '../actor.js';
import { EggError } from '../errors.js';
import { isDirectlyInside } from './files.js';
import { isNamespace } from '../names.js';
import type { SecretStore } from '../stores/store.js';
import type { TokenStore } from '../tokens/token-store.js';
import { AUDIENCE, REGION, ROLE_ARN, TABLE } from './inputs.js';
import { failureMessage, runnerLogger } from './report.js';
import { actionsRunner, type Runner } from './runner.js';
import {
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
  let result: { revoked: string[]; unknown: string[] };
  try {
    result =
      vault.backend === 'local'
        ? await revokeLocal(vault, ids, osActor(env))
        : await revokeAws(vault, ids, runner, env);
  } catch (error) {
    const reason = (failureMessage(error).split('\n')[0] as string).replace(/\.$/, '');
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
  if (result.unknown.length > 0) {
    runner.warning(
      `${result.unknown.length} recorded token id(s) were not found in ${vault.namespace} (revoked anyway): ${result.unknown.join(', ')}`,
    );
  }
}

/** `revoke them with \`egg tokens revoke … --tag run=<id>\` (ids: …)`, naming the vault when it is known. */
function revokeHint(ids: readonly string[], env: NodeJS.ProcessEnv, vault: TokenVault | undefined): string {
  const command = [
    vault?.backend === 'aws'
      ? `EGG_TABLE=${vault.table} egg tokens revoke --backend aws`
      : 'egg tokens revoke',
    vault === undefined ? undefined : `--namespace ${vault.namespace}`,
    `--tag run=${env.GITHUB_RUN_ID || '<run id>'}`,
  ].filter((part) => part !== undefined);
  return `revoke them with \`${command.join(' ')}\` (ids: ${ids.join(', ')})`;
}

/**
 * Revocation needs only the vault file (the token records and the audit trail): not the
 * KEK, the signing key or src/open.ts, whose lazy AWS imports would ship in this bundle.
 */
async function revokeLocal(
  vault: LocalTokenVault,
  ids: readonly string[],
  actor: string,
): Promise<{ revoked: string[]; unknown: string[] }> {
  const [{ ensureHome }, { SqliteStore }, { SqliteTokenStore }] = await Promise.all([
    import('../home.js'),
    import('../stores/sqlite.js'),
    import('../tokens/sqlite-token-store.js'),
  ]);
  ensureHome(vault.home, { create: false });
  // src/open.ts VAULT_FILE: the vault and its token records share one SQLite file.
  const path = join(vault.home, 'vault.db');
  const secrets = new SqliteStore(path);
  try {
    const store = new SqliteTokenStore(path);
    try {
      return await revokeIn(vault.namespace, store, secrets, actor, ids);
    } finally {
      await store.close();
    }
  } finally {
    await secrets.close();
  }
}

/**
 * The aws vault: the main step's STS credentials were never saved (GITHUB_STATE is readable
 * by later steps), so this step trades a fresh OIDC token for its own, as the main step did,
 * and revokes through the table's token store. Only the DynamoDB client loads: no KMS.
 */
async function revokeAws(
  vault: AwsTokenVault,
  ids: readonly string[],
  runner: Runner,
  env: NodeJS.ProcessEnv,
): Promise<{ revoked: string[]; unknown: string[] }> {
  const [
    { exchangeToken, sdkCredentials },
    { createDynamoDbClient },
    { DynamoDbStore },
    { DynamoDbTokenStore },
  ] = await Promise.all([
    import('./aws-credentials.js'),
    import('../aws/clients.js'),
    import('../stores/dynamodb.js'),
    import('../tokens/dynamodb-token-store.js'),
  ]);
  const logger = runnerLogger(runner);
  const { credentials } = await exchangeToken(
    // STS's shortest session: a few calls need no more.
    { roleArn: vault.roleArn, audience: vault.audience, region: vault.region, durationSeconds: 900 },
    env,
    logger,
    (value) => runner.setSecret(value),
  );
  const client = await createDynamoDbClient({
    region: vault.region,
    credentials: sdkCredentials(credentials),
  });
  try {
    const secrets = new DynamoDbStore({ client, table: vault.table, logger });
    const store = new DynamoDbTokenStore({ client, table: vault.table, logger });
    return await revokeIn(vault.namespace, store, secrets, credentials.assumedRoleArn, ids);
  } finally {
    client.destroy();
  }
}

/** Revoke `ids` in `namespace` with a Tokens that can revoke and audit but never sign. */
async function revokeIn(
  namespace: string,
  store: TokenStore,
  secrets: SecretStore,
  actor: string,
  ids: readonly string[],
): Promise<{ revoked: string[]; unknown: string[] }> {
  const { Tokens } = await import('../tokens/tokens.js');
  const refuse = (): never => {
    throw new EggError('ERR_USAGE', 'the post step only revokes tokens');
  };
  const tokens = new Tokens({
    namespace,
    signer: { kind: 'local', kid: refuse, sign: refuse, publicKey: refuse, close: () => {} },
    tokens: store,
    secrets,
    actor,
  });
  return tokens.revoke(ids);
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
