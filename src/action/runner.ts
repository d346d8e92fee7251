/**
 * The runner's command surface (inputs, masks, env, outputs, state, log, summary), built
 * on @actions/core's own command modules.
 *
 * Why not `import * as core from '@actions/core'`: its entry module statically imports the
 * OIDC client, which loads @actions/http-client and undici (about 450 kB), costing ~2× a
 * bare `node -e 0` before the step does anything. Only the `aws` path needs an OIDC
 * token, so the functions below are @actions/core's one-liners (lib/core.js) over its
 * command modules, and src/auth/oidc-token.ts speaks the token protocol with `fetch`.
 * `tsc` checks these paths against the installed package, so a layout change in
 * @actions/core fails the build.
 *
 * Unlike @actions/core, nothing here falls back to the deprecated stdout commands
 * (`::set-env::`, `::set-output::`, `::save-state::`): they would print a secret into the
 * log, so a runner without the file commands is refused.
 */
import { EOL } from 'node:os';
import { issueCommand } from '../../node_modules/@actions/core/lib/command.js';
import {
  issueFileCommand,
  prepareKeyValueMessage,
} from '../../node_modules/@actions/core/lib/file-command.js';
import { summary } from '../../node_modules/@actions/core/lib/summary.js';
import { EggError } from '../errors.js';

/** What the Action does to and asks of the runner; tests may pass their own. */
export interface Runner {
  getInput(name: string): string;
  getState(name: string): string;
  /** `::add-mask::` — the runner replaces the value with *** in every later log line. */
  setSecret(value: string): void;
  exportVariable(name: string, value: string): void;
  setOutput(name: string, value: string): void;
  saveState(name: string, value: string): void;
  info(message: string): void;
  warning(message: string): void;
  debug(message: string): void;
  isDebug(): boolean;
  /** Sets exit code 1 and prints an error annotation. */
  setFailed(message: string): void;
  /** Append markdown to the job summary; a no-op when the runner has none. */
  appendSummary(markdown: string): Promise<void>;
}

/** The real runner, through the environment and files it gives the step. */
export function actionsRunner(env: NodeJS.ProcessEnv = process.env): Runner {
  const fileCommand = (command: 'ENV' | 'OUTPUT' | 'STATE', name: string, value: string) => {
    if (!env[`GITHUB_${command}`]) {
      throw new EggError(
        'ERR_INVALID_CONFIG',
        `the runner did not provide GITHUB_${command}; refusing to fall back to a log command that would print the value`,
        { hint: 'use GitHub Actions runner 2.297.0 or later' },
      );
    }
    issueFileCommand(command, prepareKeyValueMessage(name, value));
  };
  return {
    getInput: (name) => (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim(),
    getState: (name) => env[`STATE_${name}`] ?? '',
    setSecret: (value) => issueCommand('add-mask', {}, value),
    exportVariable: (name, value) => {
      fileCommand('ENV', name, value);
      env[name] = value;
    },
    setOutput: (name, value) => fileCommand('OUTPUT', name, value),
    saveState: (name, value) => fileCommand('STATE', name, value),
    info: (message) => {
      process.stdout.write(message + EOL);
    },
    warning: (message) => issueCommand('warning', {}, message),
    debug: (message) => issueCommand('debug', {}, message),
    isDebug: () => env.RUNNER_DEBUG === '1',
    setFailed: (message) => {
      process.exitCode = 1;
      issueCommand('error', {}, message);
    },
    appendSummary: async (markdown) => {
      if (!env.GITHUB_STEP_SUMMARY) return;
      await summary.addRaw(markdown).write();
    },
  };
}
