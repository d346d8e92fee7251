/**
 * `npm run bench`: every figure of DESIGN's Benchmarks that exists so far, in one table.
 * The machine is shared and noisy, so figures are ratios measured in the same run.
 */
import { benchAction } from './action.js';
import { benchApi } from './api.js';
import { benchAlerts } from './alerts.js';
import { benchImport, benchMasking, benchStartup } from './cli.js';
import { benchMutation } from './mutation.js';
import { benchProxy } from './proxy.js';
import { benchPull } from './pull.js';
import { benchRotate } from './rotate.js';

const DELAY_MS = 5;
const quick = process.env.EGG_BENCH_QUICK === '1';
/** `npm run bench -- --only=startup,mask` runs only those sections. */
const only = process.argv
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const SECTIONS = ['pull', 'startup', 'import', 'action', 'mask', 'rotate', 'proxy', 'api', 'alerts'];
for (const name of only ?? []) {
  if (!SECTIONS.includes(name)) throw new Error(`--only: unknown section ${name} (${SECTIONS.join(', ')})`);
}
const want = (section: string) => only === undefined || only.includes(section);

const rows: [string, string, string][] = [];
const fmt = (x: number, digits = 1) => x.toFixed(digits);

if (want('pull')) {
  process.stderr.write('bench: pull against DynamoDB Local + moto behind a 5 ms delay…\n');
  const pulls = await benchPull({ delayMs: DELAY_MS, sizes: [1, 10, 100], trials: quick ? 1 : 5 });
  for (const row of pulls) {
    const target = row.n === 100 ? (row.keyring === 'kms' ? '≤ 8 units' : '≤ 5 units, ≤ 1 KMS call') : '';
    rows.push([
      `pull ${row.n} (${row.keyring})`,
      `${fmt(row.units)} units · ${fmt(row.roundTrips)} round trips on the critical path · emulators alone ${fmt(row.baseMs, 0)} ms · ${row.dynamodbCalls} DynamoDB, ${row.kmsCalls} KMS calls`,
      target,
    ]);
  }
}

if (want('startup')) {
  process.stderr.write('bench: CLI start-up…\n');
  const startup = benchStartup(quick ? 3 : 15);
  rows.push(['node -e 0', `${fmt(startup.nodeMs)} ms (the unit below)`, '']);
  rows.push(['egg --version', `${fmt(startup.versionRatio, 2)}× node -e 0`, '≤ 2×']);
  rows.push(['egg secrets pull (local, 10)', `${fmt(startup.pullRatio, 2)}× node -e 0`, '≤ 2×']);
  rows.push(['egg secrets list (local, 10)', `${fmt(startup.listRatio, 2)}× node -e 0`, '≤ 2×']);
  const binary = startup.binary;
  if (binary === undefined) {
    rows.push(['standalone binary', 'not measured: `npm run binary` builds it', '']);
  } else {
    rows.push(['binary --version', `${fmt(binary.versionRatio, 2)}× node -e 0`, '']);
    rows.push(['binary secrets pull (local, 10)', `${fmt(binary.pullRatio, 2)}× node -e 0`, '']);
    rows.push(['binary secrets list (local, 10)', `${fmt(binary.listRatio, 2)}× node -e 0`, '']);
    rows.push(['binary size', `${fmt(binary.bytes / 1e6)} MB`, '']);
  }
}

if (want('action')) {
  process.stderr.write('bench: Action main step cold start (local; aws against the loopback fakes)…\n');
  const action = await benchAction({ runs: quick ? 3 : 15, aws: true });
  const kB = (bytes: number) => `${fmt(bytes / 1000, 0)} kB`;
  rows.push(['Action main, 10 secrets (local)', `${fmt(action.localRatio, 2)}× node -e 0`, '≤ 3.5×']);
  rows.push([
    'Action main, 10 secrets (aws)',
    action.awsRatio === undefined
      ? `not measured: ${action.awsError ?? 'no emulators'}`
      : `${fmt(action.awsRatio, 2)}× node -e 0 (fake OIDC + STS, DynamoDB Local, moto KMS on loopback)`,
    '',
  ]);
  rows.push([
    'dist/main/index.js',
    `${kB(action.mainBytes)} (with its lazy chunks: ${kB(action.mainDirBytes)})`,
    '≤ 1.0 MB',
  ]);
  rows.push(['dist/post/index.js', kB(action.postBytes), '']);
}

if (want('import')) {
  process.stderr.write('bench: egg secrets import of 100 against 100 egg secrets set…\n');
  const figures = benchImport(100, quick ? 1 : 2);
  rows.push([
    'egg secrets import, 100 secrets (local)',
    `${fmt(figures.ratio, 1)}× faster than 100 egg secrets set (${fmt(figures.importSeconds, 2)} s vs ${fmt(figures.setsSeconds, 1)} s); 1 audit record`,
    '≥ 20×',
  ]);
}

if (want('mask')) {
  process.stderr.write('bench: egg run masking throughput…\n');
  const mask = await benchMasking({ secrets: 100, mib: quick ? 16 : 64, runs: quick ? 1 : 3 });
  rows.push([
    'egg run, 100 secrets masked',
    `${fmt(mask.ratio, 2)}× --no-mask (${fmt(mask.maskedMBps, 0)} vs ${fmt(mask.plainMBps, 0)} MB/s)`,
    '≥ 0.5×',
  ]);
}

if (want('rotate')) {
  process.stderr.write('bench: deferred rotation, read → rotated…\n');
  for (const r of await benchRotate({ quick })) {
    rows.push([
      `read → rotated, ${r.backend}`,
      `p50 ${fmt(r.p50, 0)} ms, p99 ${fmt(r.p99, 0)} ms (${fmt(r.p50 / r.intervalMs, 2)}× / ${fmt(r.p99 / r.intervalMs, 2)}× its ${r.intervalMs} ms poll; ${r.trials} reads)`,
      'within seconds',
    ]);
  }
}

if (want('proxy')) {
  process.stderr.write('bench: egg proxy vs a plain Node proxy vs the upstream directly…\n');
  rows.push(...(await benchProxy({ quick })).rows);
}

if (want('api')) {
  process.stderr.write('bench: egg api serve against the direct mode (local vault)…\n');
  const api = await benchApi({ trials: quick ? 2 : 7, seconds: quick ? 1 : 3 });
  rows.push([
    `pull ${api.secrets} through egg api serve`,
    `${fmt(api.apiMs / api.directMs, 2)}× the direct mode (${fmt(api.apiMs, 0)} vs ${fmt(api.directMs, 0)} ms), ${api.roundTrips} round trip`,
    '',
  ]);
  rows.push([
    'API reads/s (GET one secret)',
    `${fmt(api.rps, 0)}/s with ${api.connections} connections (direct mode ${fmt(api.directRps, 0)}/s); ${fmt(api.rpsPerCore, 0)}/s per core of server CPU`,
    '',
  ]);
  rows.push([
    'API reads/s, limit per caller on vs off',
    `${fmt(api.rps, 0)}/s vs ${fmt(api.unlimitedRps, 0)}/s (${fmt(api.rps / api.unlimitedRps, 2)}×); per core ${fmt(api.rpsPerCore, 0)} vs ${fmt(api.unlimitedRpsPerCore, 0)} (${fmt(api.rpsPerCore / api.unlimitedRpsPerCore, 2)}×)`,
    '',
  ]);
}

if (want('alerts')) {
  process.stderr.write('bench: alert latency, anomaly → signed webhook at a loopback receiver…\n');
  rows.push(...(await benchAlerts({ quick })).rows);
}

rows.push(...benchMutation());

const widths = [0, 1, 2].map((i) =>
  Math.max(...[['benchmark', 'figure', 'target'], ...rows].map((r) => (r[i] ?? '').length)),
);
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
process.stdout.write(
  [
    line(['benchmark', 'figure', 'target']),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n') + '\n',
);
