/** Runs the built `egg` CLI as a child process, exactly as a user would. */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const EGG_BIN = fileURLToPath(new URL('../../cli/bin/egg.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function egg(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string } = {},
): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', ...options.env };
  delete env.EGG_DEBUG;
  if (options.env?.EGG_DEBUG !== undefined) env.EGG_DEBUG = options.env.EGG_DEBUG;
  const result = spawnSync(process.execPath, [EGG_BIN, ...args], {
    env,
    input: options.input ?? '',
    cwd: options.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    code: result.status,
    stdout: result.stdout.toString(),
    stderr: result.stderr.toString(),
    stdoutBytes: result.stdout,
  };
}

/**
 * Like `egg`, but asynchronous (fakes served by the test's own process can answer it), and
 * with exactly `env`: nothing of this process's environment is added.
 */
export function eggAsync(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EGG_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The forms a leaked value could take in output: raw, base64, base64url, hex, URL-encoded. */
export function leakForms(value: string | Buffer): string[] {
  const bytes = Buffer.from(value);
  return [
    bytes.toString('utf8'),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    encodeURIComponent(bytes.toString('utf8')),
  ];
}

/** The leak forms of `value` found in `haystack`. */
export function findLeaks(haystack: string | Buffer, value: string | Buffer): string[] {
  const text = Buffer.isBuffer(haystack) ? haystack.toString('latin1') : haystack;
  const raw = Buffer.isBuffer(haystack) ? haystack : Buffer.from(haystack);
  return leakForms(value).filter((form) => text.includes(form) || raw.includes(Buffer.from(form)));
}
