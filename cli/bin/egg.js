#!/usr/bin/env node
// The `egg` entry point. `--version` is answered before oclif loads, and the compile cache
// is on, so the commonest calls start in little more than Node's own start-up.
import { readFileSync } from 'node:fs';
import module from 'node:module';

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`Error: egg needs Node 24 or later; this is Node ${process.versions.node}.\n`);
  process.exit(1);
}
module.enableCompileCache?.();

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  process.stdout.write(
    `${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-v${process.versions.node}\n`,
  );
} else {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
