/** Timing helpers for the benchmarks: whole-command medians and streamed throughput. */
import { spawn, spawnSync } from 'node:child_process';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export interface Timed {
  label: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Median wall time of each command over `runs` runs, interleaved (A B C A B C …) so that
 * machine noise falls on all of them alike. Fails if a command exits non-zero.
 */
export function timeCommands(commands: Timed[], runs: number): Map<string, number> {
  const samples = new Map<string, number[]>(commands.map((c) => [c.label, []]));
  for (let i = 0; i < runs + 1; i++) {
    for (const c of commands) {
      const start = process.hrtime.bigint();
      const result = spawnSync(c.command, c.args, {
        env: c.env ?? process.env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (result.status !== 0)
        throw new Error(`${c.label} exited ${result.status}: ${result.stderr.toString().slice(0, 500)}`);
      if (i > 0) samples.get(c.label)?.push(ms); // the first round warms caches
    }
  }
  return new Map([...samples].map(([label, values]) => [label, median(values)]));
}

/** Bytes per second a command's stdout delivers, from its first byte to its end. */
export function streamThroughput(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    let first: bigint | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      first ??= process.hrtime.bigint();
      bytes += chunk.length;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const end = process.hrtime.bigint();
      if (code !== 0) reject(new Error(`${command} exited ${code}`));
      else resolve({ bytes, seconds: Number(end - (first ?? end)) / 1e9 });
    });
  });
}
