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
  const child = spawn(process.execPath, [EGG_BIN, ...command, '--port', '0', ...args], {
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
      reject(new Error(`${command.join(' ')} did not start: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const match = /listening on (https?:\/\/\S+)/.exec(err);
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
      reject(new Error(`${command.join(' ')} exited ${code}: ${err}`));
    });
  });
}
