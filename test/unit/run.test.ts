import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEggError } from '../../src/errors.js';
import { CommandNotRunnable, FORWARDED_SIGNALS, runChild, shellQuote } from '../../src/run/run.js';

const NODE = process.execPath;
const SECRET = 'hunter2-s3cr3t-Value';
const HARNESS = fileURLToPath(new URL('../fixtures/run-tty.mjs', import.meta.url));

/** A child written in JavaScript, run with this test's Node. */
const node = (script: string) => [NODE, '-e', script];

/** Run with captured stdout and stderr and a private signal source. */
async function run(
  command: string[],
  options: {
    mask?: boolean;
    signals?: EventEmitter;
    stdin?: NodeJS.ReadableStream;
    onStdout?: (text: string) => void;
  } = {},
) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => {
    out.push(chunk);
    options.onStdout?.(Buffer.concat(out).toString());
  });
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const code = await runChild({
    command,
    env: { ...process.env, SECRET },
    secrets: [Buffer.from(SECRET)],
    mask: options.mask ?? true,
    stdio: { stdin: options.stdin ?? 'ignore', stdout, stderr },
    signals: options.signals ?? new EventEmitter(),
  });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Writes the secret one byte at a time, a few milliseconds apart, to `stream`. */
const trickle = (stream: 'stdout' | 'stderr') => `
  const s = process.env.SECRET, out = process.${stream};
  out.write('before ');
  let i = 0;
  const t = setInterval(() => {
    out.write(s[i++]);
    if (i === s.length) { clearInterval(t); out.write(' after'); }
  }, 3);
`;

describe('runChild', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egg-run-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([0, 3, 42])('exits with the child exit code %i', async (code) => {
    expect((await run(node(`process.exit(${code})`))).code).toBe(code);
  });

  it.each([
    ['SIGKILL', 137],
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ])('reports a child killed by %s as 128 + n', async (signal, code) => {
    expect((await run(node(`process.kill(process.pid, '${signal}')`))).code).toBe(code);
  });

  it('masks a secret written a byte at a time, on stdout and stderr separately', async () => {
    const result = await run(node(`${trickle('stdout')}; setTimeout(() => { ${trickle('stderr')} }, 200)`));
    expect(result.stdout).toBe('before *** after');
    expect(result.stderr).toBe('before *** after');
  });

  it('masks what it echoes from stdin', async () => {
    const stdin = new PassThrough();
    stdin.end(`in: ${SECRET}\n`);
    const result = await run(node('process.stdin.pipe(process.stdout)'), { stdin });
    expect(result.stdout).toBe('in: ***\n');
  });

  it('passes output through untouched when masking is off', async () => {
    const result = await run(node('console.log(process.env.SECRET)'), { mask: false });
    expect(result.stdout).toBe(`${SECRET}\n`);
  });

  it("closes the child's pipe when the reader goes away, as a direct pipe would (SIGPIPE)", async () => {
    let writes = 0;
    const stdout = new Writable({
      write(_chunk, _encoding, callback) {
        writes++;
        callback(writes > 2 ? Object.assign(new Error('EPIPE'), { code: 'EPIPE' }) : null);
      },
    });
    const code = await runChild({
      command: ['yes', 'y'],
      env: process.env,
      stdio: { stdin: 'ignore', stdout, stderr: new PassThrough() },
      signals: new EventEmitter(),
    });
    // SIGPIPE, or EPIPE if the child inherited SIGPIPE ignored (as under vitest's workers).
    expect([128 + 13, 1]).toContain(code);
  });

  it('forwards each signal to the child and removes its listeners afterwards', async () => {
    const signals = new EventEmitter();
    const handled = FORWARDED_SIGNALS.filter((s) => s !== 'SIGTERM');
    let sent = 0;
    const result = await run(
      node(`
        for (const s of ${JSON.stringify(handled)}) process.on(s, () => console.log('got ' + s));
        process.on('SIGTERM', () => { console.log('got SIGTERM, bye'); process.exit(7); });
        console.log('ready');
        setInterval(() => {}, 1000);
      `),
      {
        signals,
        onStdout: (text) => {
          const wanted = [...handled, 'SIGTERM'];
          if (!text.includes('ready')) return;
          // One signal at a time, each once the previous one has been seen.
          if (sent === 0 || text.includes(`got ${wanted[sent - 1]}`)) {
            if (sent < wanted.length) signals.emit(wanted[sent++]!);
          }
        },
      },
    );
    expect(result.code).toBe(7);
    expect(result.stdout).toBe(`ready\n${handled.map((s) => `got ${s}\n`).join('')}got SIGTERM, bye\n`);
    for (const signal of FORWARDED_SIGNALS) expect(signals.listenerCount(signal)).toBe(0);
  });

  it('refuses a command that does not exist with exit code 127', async () => {
    const error = await run(['definitely-not-a-command-8c1f']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandNotRunnable);
    expect(error).toMatchObject({
      code: 'ERR_COMMAND_NOT_FOUND',
      message: 'command not found: definitely-not-a-command-8c1f',
      exitCode: 127,
    });
    expect(isEggError(error, 'ERR_COMMAND_NOT_FOUND')).toBe(true);
  });

  it('refuses a file that is not executable with exit code 126', async () => {
    const file = join(dir, 'not-executable.sh');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    const error = await run([file]).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_COMMAND_NOT_EXECUTABLE',
      message: `command not executable: ${file}`,
      exitCode: 126,
    });
  });

  it('reports a missing #! interpreter as not found', async () => {
    const file = join(dir, 'bad-interpreter');
    writeFileSync(file, '#!/nonexistent/interpreter\n');
    chmodSync(file, 0o755);
    const error = await run([file]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_COMMAND_NOT_FOUND', exitCode: 127 });
  });

  it('falls back to pipes with FORCE_COLOR=1 when no pseudo-terminal is available', async () => {
    const stdout = Object.assign(new PassThrough(), { isTTY: true });
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    stdin.end();
    const events: string[] = [];
    const out: Buffer[] = [];
    stdout.on('data', (chunk: Buffer) => out.push(chunk));
    const code = await runChild({
      command: node('console.log(process.env.FORCE_COLOR, process.env.SECRET)'),
      env: { ...process.env, SECRET, FORCE_COLOR: undefined },
      secrets: [Buffer.from(SECRET)],
      stdio: { stdin, stdout, stderr: new PassThrough() },
      signals: new EventEmitter(),
      pty: null,
      script: null,
      logger: { debug: (event) => events.push(event), info() {}, warn() {} },
    });
    expect(code).toBe(0);
    expect(Buffer.concat(out).toString()).toBe('1 ***\n');
    expect(events).toEqual(['run.pty-unavailable', 'run.start']);
  });
});

/**
 * Runs the harness under `script`, so its stdin and stdout are a terminal (of 123 × 45),
 * with SHELL set to a shell that is not POSIX (the inner `script` must not use it).
 * Its stdin stays open until it is done: `script` turns an early end of input into a
 * keystroke the inner terminal would echo. Line ends come back as `\n`: the inner
 * terminal's `\r\n` gets another `\r` from the outer one, whose output processing Node's
 * raw mode leaves on (a terminal shows both alike).
 */
function underTerminal(config: {
  secret: string;
  child: string;
  signal?: string;
  terminal: 'node-pty' | 'script';
}): Promise<string> {
  const inner = `stty cols 123 rows 45; SHELL=/usr/bin/fish; export SHELL; exec ${shellQuote(NODE)} ${shellQuote(HARNESS)} ${shellQuote(JSON.stringify(config))}`;
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
      resolve(Buffer.concat(out).toString().replace(/\r+\n/g, '\n'));
    });
  });
}

describe.runIf(process.platform === 'linux').each(['node-pty', 'script'] as const)(
  'runChild on a terminal made by %s',
  (terminal) => {
    it('keeps the child on a terminal (isatty, window size, SHELL) and still masks its output', async () => {
      const output = await underTerminal({
        secret: SECRET,
        terminal,
        child: `
          const { stdin, stdout, stderr } = process;
          stdout.write(\`tty \${stdout.isTTY} \${stdin.isTTY} \${stderr.isTTY}\\nsize \${stdout.columns} \${stdout.rows}\\n\`);
          process.stderr.write('err ' + process.env.SECRET + ' ' + process.env.SHELL + '\\n');
          const s = process.env.SECRET; let i = 0;
          const t = setInterval(() => { process.stdout.write(s[i++]); if (i === s.length) { clearInterval(t); process.exit(5); } }, 2);
        `,
      });
      expect(output).not.toContain(SECRET);
      expect(output).toBe(
        `tty true true true\nsize 123 45\nerr *** /usr/bin/fish\n***\nHARNESS mode=pty terminal=${terminal} exit=5\n`,
      );
    });

    it('forwards a signal to the command itself', async () => {
      const output = await underTerminal({
        secret: SECRET,
        terminal,
        signal: 'SIGINT',
        child: `
          process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(9); });
          console.log('ready');
          setInterval(() => {}, 1000);
        `,
      });
      expect(output).toBe(`ready\ngot SIGINT\n\nHARNESS mode=pty terminal=${terminal} exit=9\n`);
    });
  },
);
