/**
 * The built `egg run` on a real terminal (util-linux `script` makes the outer one; egg gives its child a node-pty one): the child's stderr
 * follows egg's own stderr, so `2>file` works as in a shell (issue 9, item 13).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/run/run.js';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';

const CANARY = 'egg-canary-run-streams-5b1e';

/**
 * Run `line` with a terminal as stdin, stdout and stderr; what the terminal showed, with line
 * ends as `\n`: the inner pseudo-terminal's `\r\n` gets another `\r` from the outer one unless
 * it is still in raw mode when egg writes, which depends on who finishes first.
 */
function onTerminal(line: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn('script', ['-q', '-e', '-c', line, '/dev/null'], {
    env: { ...process.env, ...env, SHELL: '/bin/sh', TERM: 'xterm', FORCE_COLOR: '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      child.stdin.end();
      resolve(Buffer.concat(out).toString().replace(/\r+\n/g, '\n'));
    });
  });
}

describe.runIf(process.platform === 'linux')('egg run on a terminal', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  const egg_ = `${shellQuote(process.execPath)} ${shellQuote(EGG_BIN)}`;
  const child = `sh -c 'echo "out $RUN_SECRET"; echo "err $RUN_SECRET" >&2; exit 3'`;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-run-streams-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
    const set = egg(['secrets', 'set', 'RUN_SECRET'], { env, input: CANARY, cwd: base });
    expect(set.code).toBe(0);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('keeps the child’s stderr out of stdout: `egg run -- cmd 2>file` fills the file, masked', async () => {
    const file = join(base, 'err.txt');
    const screen = await onTerminal(`${egg_} run -- ${child} 2>${shellQuote(file)}; echo "exit $?"`, env);
    const errors = readFileSync(file, 'utf8');
    expect(screen).toBe('out ***\nexit 3\n');
    expect(errors).toBe('err ***\n');
    expect(findLeaks(screen + errors, CANARY)).toEqual([]);
  });

  it('leaves both on the terminal when stdout and stderr are the same terminal', async () => {
    const screen = await onTerminal(`${egg_} run -- ${child}; echo "exit $?"`, env);
    expect(screen).toBe('out ***\nerr ***\nexit 3\n');
  });
});
