/**
 * Runs the bundled Action (`dist/main/index.js`, `dist/post/index.js`) as the GitHub
 * runner does: a fresh process per step with `INPUT_<NAME>` variables (upper-cased, spaces
 * to `_`, hyphens kept), fresh GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE /
 * GITHUB_STEP_SUMMARY files per step, RUNNER_TEMP, and for the post step the main step's
 * saved state as `STATE_<name>` variables.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

export interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** GITHUB_ENV, parsed: what later steps would see. */
  env: Map<string, string>;
  outputs: Map<string, string>;
  state: Map<string, string>;
  summary: string;
  /** The raw GITHUB_ENV file. */
  envFile: string;
  outputFile: string;
}

export interface Job {
  /** The job's working directory: RUNNER_TEMP and the per-step command files live here. */
  dir: string;
  temp: string;
  main(inputs: Record<string, string>, env?: NodeJS.ProcessEnv): Promise<StepResult>;
  /** The post step, fed the state the last main step saved. */
  post(env?: NodeJS.ProcessEnv): Promise<StepResult>;
}

/** The variables every step of the job gets (a subset of a hosted runner's). */
export function jobEnv(temp: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'acme/web',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    RUNNER_TEMP: temp,
  };
}

export function inputEnv(inputs: Record<string, string>): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => [`INPUT_${name.replace(/ /g, '_').toUpperCase()}`, value]),
  );
}

export function newJob(base: string): Job {
  const dir = mkdtempSync(join(base, 'job-'));
  const temp = join(dir, 'runner-temp');
  mkdirSync(temp);
  let steps = 0;
  let lastState = new Map<string, string>();

  const step = async (entry: 'main' | 'post', env: NodeJS.ProcessEnv): Promise<StepResult> => {
    const files = join(dir, `step-${++steps}`);
    mkdirSync(files);
    const paths = {
      GITHUB_ENV: join(files, 'env'),
      GITHUB_OUTPUT: join(files, 'output'),
      GITHUB_STATE: join(files, 'state'),
      GITHUB_STEP_SUMMARY: join(files, 'summary'),
    };
    for (const path of Object.values(paths)) writeFileSync(path, '');
    const { code, stdout, stderr } = await spawnNode([join(DIST, entry, 'index.js')], {
      ...jobEnv(temp),
      ...paths,
      ...env,
    });
    const result: StepResult = {
      code,
      stdout,
      stderr,
      env: parseFileCommands(readFileSync(paths.GITHUB_ENV, 'utf8')),
      outputs: parseFileCommands(readFileSync(paths.GITHUB_OUTPUT, 'utf8')),
      state: parseFileCommands(readFileSync(paths.GITHUB_STATE, 'utf8')),
      summary: readFileSync(paths.GITHUB_STEP_SUMMARY, 'utf8'),
      envFile: readFileSync(paths.GITHUB_ENV, 'utf8'),
      outputFile: readFileSync(paths.GITHUB_OUTPUT, 'utf8'),
    };
    return result;
  };

  return {
    dir,
    temp,
    main: async (inputs, env = {}) => {
      const result = await step('main', { ...inputEnv(inputs), ...env });
      lastState = result.state;
      return result;
    },
    post: (env = {}) => {
      const state = Object.fromEntries([...lastState].map(([name, value]) => [`STATE_${name}`, value]));
      return step('post', { ...state, ...env });
    },
  };
}

/**
 * `node ARGS…` as a child process, asynchronously: the loopback fakes share this process's
 * event loop, so a `spawnSync` would stall them while the child waits on them.
 */
export function spawnNode(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

/**
 * The runner's parser for GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE: `NAME=value` lines and
 * `NAME<<DELIMITER` heredocs. Throws on anything else, as the runner fails the step.
 */
export function parseFileCommands(text: string): Map<string, string> {
  const result = new Map<string, string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc !== null) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const end = lines.indexOf(delimiter, i + 1);
      if (end === -1) throw new Error(`unterminated heredoc for ${name}`);
      result.set(name, lines.slice(i + 1, end).join('\n'));
      i = end;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`malformed file command line: ${JSON.stringify(line)}`);
    result.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return result;
}

/** The runner's unescaping of a workflow command's data (`%25`, `%0D`, `%0A`). */
export function commandData(line: string, command: string): string | undefined {
  const prefix = `::${command}::`;
  if (!line.startsWith(prefix)) return undefined;
  return line.slice(prefix.length).replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%');
}
