/**
 * `egg run` on a terminal keeps the child's stderr apart from its stdout (issue 9, item 13):
 * under a pseudo-terminal the child used to get one output for both, so `2>file` had no
 * effect and its errors went to the terminal.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/run/run.js';

const NODE = process.execPath;
const SECRET = 'hunter2-s3cr3t-Value';
const HARNESS = fileURLToPath(new URL('../fixtures/run-tty.mjs', import.meta.url));

/**
 * Runs the harness under `script`, so its stdin and stdout are a terminal; `redirect` is a
 * shell redirection of the harness's own stderr (`2>FILE`), or none to leave it on the terminal.
 */
function underTerminal(
  config: { secret: string; child: string; terminal: 'node-pty' | 'script' },
  redirect = '',
): Promise<string> {
  const inner = `exec ${shellQuote(NODE)} ${shellQuote(HARNESS)} ${shellQuote(JSON.stringify(config))} ${redirect}`;
  const child = spawn('script', ['-q', '-e', '-c', inner, '/dev/null'], {
    env: { ...process.env, SHELL: '/bin/sh', TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      child.stdin.end();
      // The outer terminal adds a `\r` to the inner one's `\r\n` (see run.test.ts).
      resolve(Buffer.concat(out).toString().replace(/\r+\n/g, '\n'));
    });
  });
}

const CHILD = `
  const { stdin, stdout, stderr } = process;
  stdout.write('out ' + process.env.SECRET + ' tty ' + stdin.isTTY + ' ' + stdout.isTTY + ' ' + (stderr.isTTY ?? false) + '\\n');
  stderr.write('err ' + process.env.SECRET + '\\n');
  process.exitCode = 4;
`;

describe.runIf(process.platform === 'linux').each(['node-pty', 'script'] as const)(
  'runChild on a terminal made by %s with stderr elsewhere',
  (terminal) => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'egg-run-streams-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('sends the child’s stderr to a redirected stderr, masked, and not to the terminal', async () => {
      const file = join(dir, 'err.txt');
      const output = await underTerminal({ secret: SECRET, child: CHILD, terminal }, `2>${shellQuote(file)}`);
      expect(output).toBe(`out *** tty true true false\n\nHARNESS mode=pty terminal=${terminal} exit=4\n`);
      expect(readFileSync(file, 'utf8')).toBe('err ***\n');
    });

    it('keeps stdout and stderr on the one terminal when both are that terminal', async () => {
      const output = await underTerminal({ secret: SECRET, child: CHILD, terminal });
      expect(output).toBe(
        `out *** tty true true true\nerr ***\n\nHARNESS mode=pty terminal=${terminal} exit=4\n`,
      );
    });
  },
);
