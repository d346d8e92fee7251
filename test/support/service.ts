/**
 * Runs a test service (DynamoDB Local, moto) as a child process that cannot outlive us.
 *
 * The service runs under a small `sh` guardian whose watcher blocks reading the guardian's
 * stdin, a pipe from this process. When we stop the service we close the pipe; when this
 * process dies for any reason (even SIGKILL) the kernel closes it for us. Either way `read`
 * returns and the watcher kills the service. (The pipe is kept on fd 3 because POSIX gives
 * an asynchronous list of a non-interactive shell /dev/null as stdin.) The guardian leads
 * its own process group, so `stop()` can kill the whole group if the polite way stalls.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const GUARDIAN =
  'exec 3<&0; "$@" </dev/null 3<&- & child=$!; { read -r _ <&3; kill "$child" 2>/dev/null; } & wait "$child"';

export interface Service {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the first match of `pattern` in the service's output. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** The last lines of output, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

export function startService(
  name: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Service {
  const child = spawn('sh', ['-c', GUARDIAN, name, command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let exited: string | undefined;
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(line);
    // Keep draining (a full pipe would block the service) but remember only the tail.
    if (lines.length > 200) lines.splice(0, lines.length - 200);
    for (const wake of waiters) wake();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
    for (const wake of waiters) wake();
  });
  // Not `unref`ed: vitest's globalSetup keeps the run alive until teardown stops us.

  return {
    name,
    pid: child.pid ?? -1,
    tail: () => lines.slice(-30).join('\n'),
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `${name} did not print ${pattern} within ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          for (const line of lines) {
            const match = line.match(pattern);
            if (match !== null) {
              clearTimeout(timer);
              waiters.delete(check);
              resolve(match);
              return;
            }
          }
          if (exited !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`${name} ${exited}:\n${lines.slice(-30).join('\n')}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  // Always close the pipe: it also ends the watcher of a service that already exited.
  child.stdin?.end();
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => {
    // The service ignored SIGTERM: take down the whole group.
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
}
