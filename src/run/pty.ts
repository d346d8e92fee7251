/**
 * The pseudo-terminal of `egg run` (issue 11, item 5): node-pty, the library VS Code's
 * terminal uses (`@lydell/node-pty` ships it prebuilt for Linux, macOS and Windows), loaded
 * only when `egg run` is on a terminal, so no other command pays for it.
 *
 * The child gets a terminal of egg's window size as its stdin, stdout and stderr. Egg's own
 * terminal goes into raw mode, so each keystroke (Ctrl-C, Ctrl-D, a prompt's answer) reaches
 * the child's terminal as typed and its line discipline does what a shell's would: Ctrl-C is
 * a SIGINT to the child's foreground process group, once. Raw mode is restored on every way
 * out: the child's exit, a failure, and egg's own exit (a crash included).
 *
 * A pseudo-terminal has one output. When egg's stderr is not that terminal (`2>file`, a
 * pipe), the command runs as `sh -c 'exec "$@" 2>"$FIFO"'` with a named pipe in a new private
 * directory (0700), which egg reads: the command's stderr is masked on its way to egg's
 * stderr and never lands on stdout (issue 9, item 13). Windows has no such pipe a shell can
 * open, so `stderrApartSupported` is false there and the caller keeps pipes instead.
 */
import { spawn as spawnProcess, spawnSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ReadStream } from 'node:tty';

/** The part of node-pty's API egg uses (`@lydell/node-pty`'s `spawn`, with `encoding: null`). */
export interface PtyModule {
  spawn(
    file: string,
    args: string[],
    options: {
      name: string;
      cols: number;
      rows: number;
      cwd: string;
      env: Record<string, string>;
      encoding: null;
    },
  ): PtyProcess;
}

interface PtyProcess {
  readonly pid: number;
  onData(listener: (data: Buffer | string) => void): unknown;
  onExit(listener: (event: { exitCode: number; signal?: number }) => void): unknown;
  write(data: Buffer | string): void;
  resize(cols: number, rows: number): void;
  kill(signal?: string): void;
  pause(): void;
  resume(): void;
}

/** Whether the child's stderr can be kept apart from the terminal (a FIFO and `sh`). */
export const stderrApartSupported = process.platform !== 'win32';

/**
 * node-pty, or why it cannot be loaded: not installed (`npm install --omit=optional`), no
 * prebuilt addon for this platform, or the standalone binary, which cannot load native
 * addons. Nothing else in egg imports it.
 */
export async function loadPty(): Promise<PtyModule | { reason: string }> {
  try {
    const loaded = (await import('@lydell/node-pty')) as unknown as Partial<PtyModule> & {
      default?: PtyModule;
    };
    const pty = typeof loaded.spawn === 'function' ? (loaded as PtyModule) : loaded.default;
    if (pty === undefined || typeof pty.spawn !== 'function') return { reason: 'node-pty has no spawn' };
    return pty;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { reason: typeof code === 'string' ? `${code}: ${reason}` : (reason ?? 'not loadable') };
  }
}

export interface PtySpawn {
  file: string;
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Egg's terminal input: its keystrokes go to the child's terminal. */
  stdin: number | NodeJS.ReadableStream;
  /** Egg's terminal output: its window size is the child's. */
  stdout: NodeJS.WritableStream;
  /** Send the command's stderr to `errors` instead of the terminal. */
  stderrApart: boolean;
}

/** A command running on a pseudo-terminal. */
export interface PtyChild {
  /** The command's process id (under `sh` for a kept-apart stderr, the command itself: `exec`). */
  readonly pid: number;
  /** What the terminal shows: stdout, and stderr unless it is kept apart. */
  readonly output: Readable;
  /** The command's stderr, when kept apart. */
  readonly errors: Readable | undefined;
  /** Its exit code, or the signal that ended it; resolves once `output` has ended. */
  readonly exited: Promise<{ code: number | null; signal: number | null }>;
  /** Send it a signal, or follow egg's window size for `SIGWINCH`. */
  signal(signal: NodeJS.Signals): void;
  /** Restore egg's terminal and remove the FIFO; call once `errors` has ended. */
  close(): Promise<void>;
}

/**
 * Start `file` on a new pseudo-terminal. Throws if node-pty cannot start it (or the FIFO for
 * a kept-apart stderr cannot be made), before egg's terminal is touched.
 */
export async function spawnPty(pty: PtyModule, s: PtySpawn): Promise<PtyChild> {
  const fifo = s.stderrApart ? await openFifo() : undefined;
  let child: PtyProcess;
  try {
    const [cols, rows] = windowSize(s.stdout);
    const [file, args] =
      fifo === undefined
        ? [s.file, [...s.args]]
        : ['/bin/sh', ['-c', 'f=$1; shift; exec "$@" 2>"$f"', 'sh', fifo.path, s.file, ...s.args]];
    child = pty.spawn(file, args, {
      name: s.env.TERM ?? 'xterm-256color',
      cols,
      rows,
      cwd: s.cwd,
      env: definedOnly(s.env),
      encoding: null,
    });
  } catch (error) {
    await fifo?.close();
    throw error;
  }

  // Egg's terminal in raw mode, each keystroke passed on as it comes.
  const keys =
    s.stdin === 0 ? process.stdin : typeof s.stdin === 'number' ? new ReadStream(s.stdin) : s.stdin;
  const raw = keys as Partial<ReadStream>;
  const wasRaw = raw.isRaw === true;
  const restore = () => {
    if (raw.isTTY === true && typeof raw.setRawMode === 'function') raw.setRawMode(wasRaw);
  };
  process.once('exit', restore);
  if (raw.isTTY === true && typeof raw.setRawMode === 'function') {
    raw.setRawMode(true);
    rawOutput(keys as { fd?: unknown });
  }
  const onKeys = (data: Buffer | string) => child.write(data);
  keys.on('data', onKeys);
  keys.resume();

  const output = new PassThrough();
  child.onData((data) => {
    if (output.writableEnded) return;
    if (!output.write(data)) {
      child.pause();
      output.once('drain', () => child.resume());
    }
  });
  const exited = new Promise<{ code: number | null; signal: number | null }>((resolve) => {
    child.onExit(({ exitCode, signal }) => {
      output.end();
      // Any process the command left holding its stderr keeps the FIFO open, as a pipe would.
      fifo?.release();
      const done = () =>
        resolve(
          signal !== undefined && signal !== 0 ? { code: null, signal } : { code: exitCode, signal: null },
        );
      if (output.readableEnded) done();
      else output.once('end', done);
    });
  });

  let closed = false;
  return {
    pid: child.pid,
    output,
    errors: fifo?.stream,
    exited,
    signal(signal) {
      try {
        if (signal === 'SIGWINCH') child.resize(...windowSize(s.stdout));
        else child.kill(signal);
      } catch {
        // It exited in the meantime, or (Windows) takes no signals.
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      keys.off('data', onKeys);
      keys.pause();
      if (keys !== process.stdin && typeof s.stdin === 'number') (keys as ReadStream).destroy();
      restore();
      process.off('exit', restore);
      await fifo?.close();
    },
  };
}

/**
 * Turn off output processing too, as `cfmakeraw` (and `script`) do: Node's raw mode leaves
 * it on, so each `\n` of the child's terminal would reach egg's as `\r\n`, which a
 * full-screen program that moves the cursor with a bare `\n` does not expect. Raw mode's
 * restore (`setRawMode(false)`) brings back the terminal's settings from before, this one
 * included.
 */
function rawOutput(terminal: { fd?: unknown }): void {
  if (process.platform === 'win32' || typeof terminal.fd !== 'number') return;
  spawnSync('stty', ['-opost'], { stdio: [terminal.fd, 'ignore', 'ignore'] });
}

/** The window size of egg's terminal, `[columns, rows]` (80 × 24 when it cannot tell). */
function windowSize(stdout: NodeJS.WritableStream): [number, number] {
  for (const stream of [stdout, process.stdout] as Partial<import('node:tty').WriteStream>[]) {
    if (stream.isTTY === true && typeof stream.getWindowSize === 'function') {
      const [cols, rows] = stream.getWindowSize();
      if (cols > 0 && rows > 0) return [cols, rows];
    }
  }
  return [80, 24];
}

function definedOnly(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

interface Fifo {
  path: string;
  stream: Readable;
  /** Stop holding the FIFO open for writing: it ends once the command's side closes. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A named pipe for the command's stderr, in a new directory only this user can enter. Egg
 * holds a write end of its own until the command has exited, so the read end does not see
 * end-of-file before the command has opened it.
 */
async function openFifo(): Promise<Fifo> {
  const dir = await mkdtemp(join(tmpdir(), 'egg-run-'));
  const path = join(dir, 'stderr');
  try {
    await new Promise<void>((resolve, reject) => {
      const mkfifo = spawnProcess('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
      mkfifo.once('error', reject);
      mkfifo.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`mkfifo exited ${code}`))));
    });
    const readFd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    let keeper: number | undefined = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    const stream = new Socket({ fd: readFd, readable: true, writable: false });
    const release = () => {
      if (keeper === undefined) return;
      closeSync(keeper);
      keeper = undefined;
    };
    return {
      path,
      stream,
      release,
      async close() {
        release();
        stream.destroy();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
