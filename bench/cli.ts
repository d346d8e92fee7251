/**
 * CLI figures: start-up of `egg --version`, `egg secrets pull` and `egg secrets list` (local,
 * 10 secrets) as ratios to `node -e 0` on the same Node, for the npm package's `egg` and,
 * when `npm run binary` has built it, the standalone binary; and `egg run` masking
 * throughput with 100 secrets as a ratio to `egg run --no-mask`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, streamThroughput, timeCommands } from './support/measure.js';

const EGG = fileURLToPath(new URL('../cli/bin/egg.js', import.meta.url));
const PLATFORM = process.platform === 'win32' ? 'win' : process.platform;
const BINARY = fileURLToPath(
  new URL(
    `../build/egg-${PLATFORM}-${process.arch}${process.platform === 'win32' ? '.exe' : ''}`,
    import.meta.url,
  ),
);

function seed(env: NodeJS.ProcessEnv, count: number, value: (i: number) => string): void {
  for (let i = 0; i < count; i++) {
    const result = spawnSync(process.execPath, [EGG, 'secrets', 'set', `SECRET_${i}`], {
      env,
      input: value(i),
    });
    if (result.status !== 0) throw new Error(`seeding failed: ${result.stderr}`);
  }
}

export interface StartupFigures {
  nodeMs: number;
  versionRatio: number;
  pullRatio: number;
  listRatio: number;
  /** The standalone binary's figures, when build/ has one for this machine. */
  binary?: { bytes: number; versionRatio: number; pullRatio: number; listRatio: number };
}

export function benchStartup(runs: number): StartupFigures {
  const dir = mkdtempSync(join(tmpdir(), 'egg-bench-start-'));
  try {
    const env = { ...process.env, EGG_HOME: join(dir, 'home'), EGG_NAMESPACE: 'bench' };
    seed(env, 10, (i) => `start-up-value-${i}`);
    const binary = existsSync(BINARY);
    const times = timeCommands(
      [
        { label: 'node', command: process.execPath, args: ['-e', '0'] },
        { label: 'version', command: process.execPath, args: [EGG, '--version'] },
        { label: 'pull', command: process.execPath, args: [EGG, 'secrets', 'pull'], env },
        { label: 'list', command: process.execPath, args: [EGG, 'secrets', 'list'], env },
        ...(binary
          ? [
              { label: 'binary version', command: BINARY, args: ['--version'] },
              { label: 'binary pull', command: BINARY, args: ['secrets', 'pull'], env },
              { label: 'binary list', command: BINARY, args: ['secrets', 'list'], env },
            ]
          : []),
      ],
      runs,
    );
    const node = times.get('node') as number;
    const ratio = (label: string) => (times.get(label) as number) / node;
    return {
      nodeMs: node,
      versionRatio: ratio('version'),
      pullRatio: ratio('pull'),
      listRatio: ratio('list'),
      ...(binary
        ? {
            binary: {
              bytes: statSync(BINARY).size,
              versionRatio: ratio('binary version'),
              pullRatio: ratio('binary pull'),
              listRatio: ratio('binary list'),
            },
          }
        : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface MaskFigures {
  maskedMBps: number;
  plainMBps: number;
  ratio: number;
}

/** A child that writes `mib` MiB of log-like lines, one in 50 carrying a secret. */
const GENERATOR = `
const secrets = JSON.parse(process.env.BENCH_SECRETS);
const lines = [];
for (let i = 0; i < 2000; i++) {
  lines.push(i % 50 === 0 ? 'token=' + secrets[i % secrets.length] + ' ok\\n' : '2026-11-22T10:00:00Z INFO request id=' + i + ' path=/api/v1/items status=200 bytes=5120\\n');
}
const block = Buffer.from(lines.join(''));
let left = Number(process.env.BENCH_MIB) * 1024 * 1024;
function write() {
  while (left > 0) {
    left -= block.length;
    if (!process.stdout.write(block)) return process.stdout.once('drain', write);
  }
}
write();
`;

export async function benchMasking(options: {
  secrets: number;
  mib: number;
  runs: number;
}): Promise<MaskFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'egg-bench-mask-'));
  try {
    const values = Array.from(
      { length: options.secrets },
      (_, i) => `mask-${i}-${(i * 7919).toString(36)}-secretvalue`,
    );
    const env = {
      ...process.env,
      EGG_HOME: join(dir, 'home'),
      EGG_NAMESPACE: 'bench',
      BENCH_SECRETS: JSON.stringify(values),
      BENCH_MIB: String(options.mib),
    };
    seed(env, options.secrets, (i) => values[i] as string);
    const generator = join(dir, 'generate.cjs');
    writeFileSync(generator, GENERATOR);
    const masked: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      for (const [mask, into] of [
        ['--mask', masked],
        ['--no-mask', plain],
      ] as const) {
        const { bytes, seconds } = await streamThroughput(
          process.execPath,
          [EGG, 'run', mask, '--', process.execPath, generator],
          env,
        );
        into.push(bytes / seconds / 1e6);
      }
    }
    const maskedMBps = median(masked);
    const plainMBps = median(plain);
    return { maskedMBps, plainMBps, ratio: maskedMBps / plainMBps };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ImportFigures {
  setsSeconds: number;
  importSeconds: number;
  ratio: number;
}

/**
 * `egg secrets import` of a dotenv file of `count` secrets against `count` separate
 * `egg secrets set` calls, each into a fresh namespace of one local vault: wall time of the
 * whole job, as a user would wait for it. Checks that the import wrote one audit record.
 */
export function benchImport(count: number, runs: number): ImportFigures {
  const dir = mkdtempSync(join(tmpdir(), 'egg-bench-import-'));
  try {
    const env = { ...process.env, EGG_HOME: join(dir, 'home') };
    const egg = (args: string[], input?: string) => {
      const result = spawnSync(process.execPath, [EGG, ...args], {
        env,
        ...(input === undefined ? {} : { input }),
      });
      if (result.status !== 0) throw new Error(`egg ${args.join(' ')} failed: ${result.stderr}`);
      return result.stdout.toString();
    };
    egg(['init']);
    const value = (i: number) => `import-bench-${i}-${(i * 7919).toString(36)}-value`;
    const file = join(dir, 'bench.env');
    writeFileSync(file, Array.from({ length: count }, (_, i) => `SECRET_${i}='${value(i)}'\n`).join(''));
    const sets: number[] = [];
    const imports: number[] = [];
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      seed({ ...env, EGG_NAMESPACE: `bench/sets-${run}` }, count, value);
      sets.push((performance.now() - start) / 1000);
      const namespace = `bench/import-${run}`;
      const began = performance.now();
      egg(['secrets', 'import', file, '-n', namespace]);
      imports.push((performance.now() - began) / 1000);
      const audit = JSON.parse(egg(['audit', '--json', '-n', namespace])) as { action: string }[];
      const writes = audit.filter((r) => r.action !== 'read');
      if (writes.length !== 1)
        throw new Error(`an import of ${count} wrote ${writes.length} audit records, not 1`);
    }
    const setsSeconds = median(sets);
    const importSeconds = median(imports);
    return { setsSeconds, importSeconds, ratio: setsSeconds / importSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
