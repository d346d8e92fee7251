#!/usr/bin/env node
/**
 * `npm run binary`: the standalone `egg` for this machine, build/egg-<platform>-<arch>
 * (.exe on Windows), a Node single executable application that needs no Node installed
 * (https://nodejs.org/api/single-executable-applications.html). The CLI's one-script
 * bundle (scripts/bundle.js --sea) goes in with V8's code cache for it, into a copy of the
 * Node that runs this script (the project's Node 24). Cross-building is not possible:
 * .github/workflows/release.yml runs this on each platform's own runner.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postject from 'postject';

const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const platform = process.platform === 'win32' ? 'win' : process.platform;
const out = join('build', `egg-${platform}-${process.arch}${process.platform === 'win32' ? '.exe' : ''}`);

function run(command, args, { optional = false } = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (optional && result.error?.code === 'ENOENT') {
    process.stderr.write(`${command} is not installed; skipped\n`);
    return;
  }
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}`);
}

run(process.execPath, ['scripts/bundle.js', '--sea']);
const config = join('build', 'sea', 'sea-config.json');
writeFileSync(
  config,
  JSON.stringify({
    main: join('build', 'sea', 'egg.cjs'),
    output: join('build', 'sea', 'egg.blob'),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
  }),
);
run(process.execPath, ['--experimental-sea-config', config]);

copyFileSync(process.execPath, out);
chmodSync(out, 0o755);
// The `node` package's binary carries its debug symbols (tens of MB); a release build has none.
if (process.platform === 'linux') run('strip', [out], { optional: true });
if (process.platform === 'darwin') run('codesign', ['--remove-signature', out]);
await postject.inject(out, 'NODE_SEA_BLOB', readFileSync(join('build', 'sea', 'egg.blob')), {
  sentinelFuse: SENTINEL,
  ...(process.platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
});
if (process.platform === 'darwin') run('codesign', ['--sign', '-', out]);
process.stdout.write(`${out} ${(statSync(out).size / 1e6).toFixed(1)} MB\n`);
