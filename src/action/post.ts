/**
 * The Action's post step (`post-if: always()`): undoes exactly what its main step recorded
 * with `saveState`, and says why whenever it skips something. It deletes only files
 * directly inside RUNNER_TEMP, whatever the state says.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { EggError } from '../errors.js';
import { isDirectlyInside } from './files.js';
import { failureMessage } from './report.js';
import { actionsRunner, type Runner } from './runner.js';
import { STATE_FILES, STATE_TOKENS } from './state.js';

export interface PostOptions {
  runner?: Runner;
  env?: NodeJS.ProcessEnv;
  /** Where token revocation plugs in (tokens: a later issue). */
  revokeTokens?: (ids: readonly string[], runner: Runner) => Promise<void>;
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
      await (options.revokeTokens ?? revokeMintedTokens)(tokens ?? [], runner);
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
 * Revoke the tokens this job minted. Token minting arrives with the tokens issue; until then
 * the main step records none, and this says so.
 */
export async function revokeMintedTokens(ids: readonly string[], runner: Runner): Promise<void> {
  if (ids.length === 0) {
    runner.info('No tokens were minted by this job; nothing to revoke.');
    return;
  }
  throw new EggError(
    'ERR_USAGE',
    `the main step recorded ${ids.length} token(s), but this version cannot revoke tokens`,
    {
      hint: 'revoke them with `egg tokens revoke`',
    },
  );
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
