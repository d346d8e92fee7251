/**
 * The engine of `egg run`: start a command with the environment the caller built, mask
 * the secrets in its stdout and stderr, forward signals to it, and report its exit status
 * the way a shell does (128 + n for a child killed by signal n).
 *
 * Three ways to connect the child, chosen from `mask` and the parent's stdio:
 * - `inherit` (`mask: false`): the child gets the parent's descriptors, zero-copy.
 * - `pipe`: stdout and stderr each go through their own `SecretMasker`.
 * - `pty` (masking, with stdin and stdout both terminals): the child runs on a
 *   pseudo-terminal from node-pty (src/run/pty.ts), on Linux, macOS and Windows alike, so it
 *   keeps colours, `isatty`, prompts and the window size, and what it shows is masked. A
 *   pseudo-terminal has one output, so when stderr is that same terminal the child's stderr
 *   is the terminal too, as in a shell. When egg's stderr goes elsewhere (`2>file`, a pipe,
 *   another terminal), the child's stderr gets its own channel, masked on its way to egg's
 *   stderr, so it never lands on stdout (issue 9, item 13). Where node-pty cannot load (the
 *   standalone binary holds no native addon; an unsupported platform), util-linux `script`
 *   makes the terminal on Linux (the child's stderr apart on its descriptor 3); without
 *   either it falls back to `pipe` with `FORCE_COLOR=1`. A fallback is said in a debug log.
 *
 * Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 are passed on to the command
 * itself; SIGWINCH resizes its terminal. A Ctrl-C typed on the terminal also reaches a
 * child in `inherit` or `pipe` mode directly, since it shares egg's process group, so it
 * may see SIGINT twice, as under `npm run`; in `pty` mode egg's terminal is raw and Ctrl-C
 * reaches the child once, through the pseudo-terminal.
 *
 * A command that cannot be started is an `EggError` before anything runs:
 * `ERR_COMMAND_NOT_FOUND` or `ERR_COMMAND_NOT_EXECUTABLE`, each a `CommandNotRunnable`
 * whose `exitCode` (127 or 126, as POSIX shells use) the CLI should exit with.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { isatty } from 'node:tty';
import { EggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { MaskSet } from './mask.js';
import { pump } from './pump.js';
import { loadPty, type PtyChild, type PtyModule, spawnPty, stderrApartSupported } from './pty.js';

/** The signals `runChild` passes on to the child. */
export const FORWARDED_SIGNALS = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** Where signals come from: `process` by default; tests pass an `EventEmitter` and `emit('SIGTERM')`. */
export interface SignalSource {
  on(signal: ForwardedSignal, listener: () => void): unknown;
  off(signal: ForwardedSignal, listener: () => void): unknown;
}

export interface RunStdio {
  /** A file descriptor, a readable stream, or `'ignore'`. Default: descriptor 0. */
  stdin?: number | NodeJS.ReadableStream | 'ignore';
  /** Default: `process.stdout`. A stream with a numeric `fd` is handed to the child directly when not masking. */
  stdout?: NodeJS.WritableStream;
  /** Default: `process.stderr`. */
  stderr?: NodeJS.WritableStream;
}

export interface RunOptions {
  /** The command and its arguments; the command is looked up in `env.PATH`. */
  command: readonly string[];
  /** The child's whole environment (the caller merges `process.env` and the secrets). */
  env: Readonly<Record<string, string | undefined>>;
  /** Values to mask, or a `MaskSet` built from them (to warn about `skipped` values first). */
  secrets?: readonly Uint8Array[] | MaskSet;
  /** Mask the child's output (default true). `false` hands it the parent's stdio. */
  mask?: boolean;
  stdio?: RunStdio;
  signals?: SignalSource;
  /** `never` keeps pipes even on a terminal. Default `auto`. */
  terminal?: 'auto' | 'never';
  /** node-pty, or `null` to do without. Default: loaded on first use, when on a terminal. */
  pty?: PtyModule | null;
  /** Path of util-linux `script`, the fallback when node-pty cannot load; `null` to do without. Default: looked up in `PATH` on Linux. */
  script?: string | null;
  cwd?: string;
  logger?: Logger;
}

/** How the child was connected (see the module comment). */
export type RunMode = 'inherit' | 'pipe' | 'pty';

/** A command that could not be started; `exitCode` is what a shell would exit with. */
export class CommandNotRunnable extends EggError {
  readonly exitCode: 126 | 127;

  constructor(notFound: boolean, message: string, hint: string, cause?: unknown) {
    super(notFound ? 'ERR_COMMAND_NOT_FOUND' : 'ERR_COMMAND_NOT_EXECUTABLE', message, { hint, cause });
    this.name = 'CommandNotRunnable';
    this.exitCode = notFound ? 127 : 126;
  }
}

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Run `command` and resolve to its exit code: its own, or 128 + n when signal n killed it.
 * Rejects with `CommandNotRunnable` when the command cannot be started.
 *
 * @example
 * const code = await runChild({ command: ['npm', 'test'], env: { ...process.env, ...secretEnv }, secrets: values });
 * process.exitCode = code;
 */
export async function runChild(options: RunOptions): Promise<number> {
  const [name, ...args] = options.command;
  if (name === undefined) throw new TypeError('command must name a program');
  const cwd = options.cwd ?? process.cwd();
  const logger = options.logger ?? nullLogger;
  const stdin = options.stdio?.stdin ?? 0;
  const stdout = options.stdio?.stdout ?? process.stdout;
  const stderr = options.stdio?.stderr ?? process.stderr;
  const env = { ...options.env };
  const file = resolveCommand(name, env.PATH ?? DEFAULT_PATH, cwd);

  let mode: RunMode = options.mask === false ? 'inherit' : 'pipe';
  let terminal: Terminal | undefined;
  // Under a pseudo-terminal, the child's stderr stays apart unless egg's stderr is that same terminal.
  let stderrApart = false;
  if (mode === 'pipe' && options.terminal !== 'never' && isTerminal(stdin) && isTerminal(stdout)) {
    stderrApart = !sameTerminal(stdout, stderr);
    terminal = await chooseTerminal(options, env.PATH ?? DEFAULT_PATH, stderrApart, logger);
    if (terminal !== undefined) mode = 'pty';
    else env.FORCE_COLOR ??= '1';
  }
  logger.debug('run.start', {
    mode,
    command: name,
    ...(terminal !== undefined ? { terminal: 'pty' in terminal ? 'node-pty' : 'script', stderrApart } : {}),
  });

  const ownSet = mode !== 'inherit' && !(options.secrets instanceof MaskSet);
  const set =
    mode === 'inherit'
      ? undefined
      : options.secrets instanceof MaskSet
        ? options.secrets
        : new MaskSet(options.secrets ?? []);
  const signals = options.signals ?? (process as SignalSource);
  try {
    if (terminal !== undefined && 'pty' in terminal) {
      assertInterpreter(name, file);
      const child = await spawnPty(terminal.pty, {
        file,
        args,
        env,
        cwd,
        stdin: stdin as number | NodeJS.ReadableStream,
        stdout,
        stderrApart,
      });
      return await superviseTerminal(child, { stdout, stderr, set, signals });
    }
    const child =
      terminal !== undefined
        ? spawn(
            terminal.script,
            ['-q', '-e', '-c', ptyCommand(file, args, env.SHELL, stderrApart), '/dev/null'],
            {
              env: { ...env, SHELL: '/bin/sh' },
              cwd,
              stdio: stderrApart
                ? [stdinSpec(stdin), 'pipe', 'pipe', 'pipe']
                : [stdinSpec(stdin), 'pipe', 'pipe'],
            },
          )
        : spawn(file, args, {
            argv0: name,
            env,
            cwd,
            stdio: [
              stdinSpec(stdin),
              mode === 'inherit' ? outputSpec(stdout) : 'pipe',
              mode === 'inherit' ? outputSpec(stderr) : 'pipe',
            ],
          });
    return await supervise(child, {
      name,
      mode,
      stdin,
      stdout,
      stderr,
      set,
      signals,
    });
  } finally {
    if (ownSet) set?.dispose();
  }
}

/** How the child gets its terminal: node-pty, or util-linux `script` where node-pty cannot load. */
type Terminal = { pty: PtyModule } | { script: string };

/**
 * node-pty when it loads (and can keep stderr apart if asked to), else util-linux `script`,
 * else none: pipes with `FORCE_COLOR=1`. A fallback is said in one debug line.
 */
async function chooseTerminal(
  options: RunOptions,
  path: string,
  stderrApart: boolean,
  logger: Logger,
): Promise<Terminal | undefined> {
  const loaded = options.pty === undefined ? await loadPty() : (options.pty ?? { reason: 'not used' });
  let reason: string;
  if ('reason' in loaded) reason = `node-pty: ${loaded.reason}`;
  else if (stderrApart && !stderrApartSupported)
    reason = `node-pty cannot keep stderr apart on ${process.platform}`;
  else return { pty: loaded };
  const script = options.script === undefined ? findScript(path) : options.script;
  logger.debug('run.pty-unavailable', {
    reason: script === null ? `${reason}; util-linux script not found` : reason,
    fallback: script === null ? 'pipes with FORCE_COLOR=1' : 'util-linux script',
  });
  return script === null ? undefined : { script };
}

/** Supervise a command on node-pty: mask its output, forward signals, report its exit status. */
async function superviseTerminal(
  child: PtyChild,
  s: Pick<Supervision, 'stdout' | 'stderr' | 'set' | 'signals'>,
): Promise<number> {
  const pumps = [pump(child.output, s.stdout, s.set)];
  if (child.errors !== undefined) pumps.push(pump(child.errors, s.stderr, s.set));
  const listeners = FORWARDED_SIGNALS.map((signal) => [signal, () => child.signal(signal)] as const);
  for (const [signal, listener] of listeners) s.signals.on(signal, listener);
  try {
    const { code, signal } = await child.exited;
    await Promise.all(pumps);
    return code ?? 128 + (signal ?? 0);
  } finally {
    for (const [signal, listener] of listeners) s.signals.off(signal, listener);
    await child.close();
  }
}

interface Supervision {
  name: string;
  mode: RunMode;
  stdin: number | NodeJS.ReadableStream | 'ignore';
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  set: MaskSet | undefined;
  signals: SignalSource;
}

function supervise(child: ChildProcess, s: Supervision): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const pumps: Promise<void>[] = [];
    if (child.stdout !== null) pumps.push(pump(child.stdout, s.stdout, s.set));
    if (child.stderr !== null) pumps.push(pump(child.stderr, s.stderr, s.set));
    // The command's own stderr under `script`, when it is kept apart from the terminal.
    const apart = child.stdio[3];
    if (apart !== null && apart !== undefined) pumps.push(pump(apart as Readable, s.stderr, s.set));
    if (child.stdin !== null && typeof s.stdin === 'object') {
      child.stdin.on('error', () => {}); // the child may exit without reading its input
      (s.stdin as Readable).pipe(child.stdin);
    }

    const forward = (signal: ForwardedSignal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Under `script`, signal the command itself (script turns INT/QUIT into TERM); a
      // window size change goes to `script`, which resizes the pseudo-terminal.
      const target = s.mode === 'pty' && signal !== 'SIGWINCH' ? childOf(child.pid) : undefined;
      try {
        if (target === undefined) child.kill(signal);
        else process.kill(target, signal);
      } catch {
        // It exited in the meantime.
      }
    };
    const listeners = FORWARDED_SIGNALS.map((signal) => [signal, () => forward(signal)] as const);
    for (const [signal, listener] of listeners) s.signals.on(signal, listener);
    const cleanup = () => {
      for (const [signal, listener] of listeners) s.signals.off(signal, listener);
      if (typeof s.stdin === 'object' && child.stdin !== null) (s.stdin as Readable).unpipe(child.stdin);
    };

    child.once('error', (error: NodeJS.ErrnoException) => {
      cleanup();
      reject(spawnFailure(s.name, error));
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      void Promise.all(pumps).then(() => resolvePromise(code ?? 128 + (osConstants.signals[signal!] ?? 0)));
    });
  });
}

/**
 * The `sh -c` line `script` runs: restore the caller's SHELL, then become the command; with
 * `stderrApart`, the command's stderr is descriptor 3 (egg's pipe), which it then closes.
 */
function ptyCommand(
  file: string,
  args: readonly string[],
  shell: string | undefined,
  stderrApart: boolean,
): string {
  const restore = shell === undefined ? 'unset SHELL; ' : `SHELL=${shellQuote(shell)}; export SHELL; `;
  const redirect = stderrApart ? ' 2>&3 3>&-' : '';
  return `${restore}exec ${[file, ...args].map(shellQuote).join(' ')}${redirect}`;
}

/** POSIX single-quoting: every byte but `'` is literal inside single quotes. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The first child of `pid` (Linux `/proc`), i.e. the command `script` started. */
function childOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first === undefined || first === '' ? undefined : Number(first);
  } catch {
    return undefined;
  }
}

function stdinSpec(stdin: number | NodeJS.ReadableStream | 'ignore'): number | 'ignore' | 'pipe' {
  if (stdin === 'ignore' || typeof stdin === 'number') return stdin;
  const fd = (stdin as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : 'pipe';
}

function outputSpec(stream: NodeJS.WritableStream): number | 'pipe' {
  const fd = (stream as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : 'pipe';
}

function isTerminal(stream: number | NodeJS.ReadableStream | NodeJS.WritableStream | 'ignore'): boolean {
  if (stream === 'ignore') return false;
  if (typeof stream === 'number') return isatty(stream);
  const fd = (stream as { fd?: unknown }).fd;
  if (typeof fd === 'number') return isatty(fd);
  return (stream as { isTTY?: unknown }).isTTY === true;
}

/**
 * Whether `stderr` is the terminal `stdout` is: both terminals and, when both are descriptors,
 * the same device (`2>/dev/pts/N` names another terminal). A stream without a descriptor that
 * says it is a terminal is taken at its word.
 */
function sameTerminal(stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): boolean {
  if (!isTerminal(stdout) || !isTerminal(stderr)) return false;
  const outFd = (stdout as { fd?: unknown }).fd;
  const errFd = (stderr as { fd?: unknown }).fd;
  if (typeof outFd !== 'number' || typeof errFd !== 'number') return true;
  try {
    return fstatSync(outFd).rdev === fstatSync(errFd).rdev;
  } catch {
    return false;
  }
}

/** util-linux `script` (its `-e` and `-c` flags differ from BSD's), on Linux only. */
function findScript(path: string): string | null {
  if (process.platform !== 'linux') return null;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'script');
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Find `name` as `execvp` would: a name with a slash is a path (relative to `cwd`), any
 * other is looked up in each `PATH` entry (an empty entry is `cwd`).
 */
export function resolveCommand(name: string, path: string, cwd: string): string {
  const candidates = name.includes('/')
    ? [resolve(cwd, name)]
    : path.split(delimiter).map((dir) => resolve(cwd, dir === '' ? '.' : dir, name));
  let denied: string | undefined;
  for (const candidate of name === '' ? [] : candidates) {
    if (isExecutableFile(candidate)) return candidate;
    if (denied === undefined && exists(candidate)) denied = candidate;
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we look for
  const shown = /[\x00-\x1f\x7f]/.test(name) ? JSON.stringify(name) : name;
  if (denied !== undefined) {
    throw new CommandNotRunnable(
      false,
      `command not executable: ${shown}`,
      `${denied} is a directory or lacks execute permission`,
    );
  }
  throw new CommandNotRunnable(
    true,
    `command not found: ${shown}`,
    name.includes('/') ? 'check the path' : 'check the spelling, or that its directory is on PATH',
  );
}

/**
 * Refuse a script whose `#!` interpreter is missing, as `spawn` would: on a pseudo-terminal
 * the failed `exec` would only print a line and exit 1.
 */
function assertInterpreter(name: string, file: string): void {
  let head: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      head = Buffer.alloc(256);
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return; // unreadable but executable: let exec decide
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) return;
  const interpreter = head.toString('latin1', 2).split('\n')[0]?.trim().split(/[ \t]/)[0] ?? '';
  if (interpreter.startsWith('/') && !isExecutableFile(interpreter)) {
    throw spawnFailure(name, Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `spawn` itself failed after the lookup succeeded: a missing `#!` interpreter, a race. */
function spawnFailure(name: string, error: NodeJS.ErrnoException): EggError {
  if (error.code === 'ENOENT') {
    return new CommandNotRunnable(
      true,
      `could not start ${name}: it, or the interpreter on its #! line, was not found`,
      'check the path and the #! line',
      error,
    );
  }
  return new CommandNotRunnable(
    false,
    `could not start ${name}: ${error.code === 'EACCES' ? 'permission denied' : (error.code ?? 'spawn failed')}`,
    'check that it is an executable file',
    error,
  );
}
