/**
 * `egg proxy serve` (the built CLI) as a child process, as users and the ECS task run it:
 * started on a free port, its URL read from stderr, its request log from stdout. `egg api
 * serve` starts the same way (`command`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EGG_BIN } from './cli.js';

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with how the process ended, or 'still running' if it has not within `boundMs` (then kills it). */
  exited(boundMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'>;
}

/** Start `egg proxy serve --port 0 …args` (or `command`); rejects with its stderr if it exits instead. */
export function startServe(
  env: NodeJS.ProcessEnv,
  args: string[] = [],
  command: readonly string[] = ['proxy', 'serve'],
): Promise<ServeProcess> {
  return startListening([...command, '--port', '0', ...args], env, /listening on (https?:\/\/\S+)/);
}

/**
 * Start `egg …args` and resolve once its stderr matches `ready`, whose first group is the
 * process's `url`; rejects with its stderr if it exits instead.
 */
export function startListening(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ServeProcess> {
  const child = spawn(process.execPath, [EGG_BIN, ...args], {
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`egg ${args.join(' ')} did not start: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const match = ready.exec(err);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1]!,
          child,
          stdout: () => out,
          stderr: () => err,
          exited: async (boundMs) => {
            let bound: NodeJS.Timeout | undefined;
            const result = await Promise.race([
              exit,
              new Promise<'still running'>(
                (done) => (bound = setTimeout(() => done('still running'), boundMs)),
              ),
            ]);
            clearTimeout(bound);
            if (result === 'still running') child.kill('SIGKILL');
            return result;
          },
        });
      }
    });
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`egg ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}
