#!/usr/bin/env node
/**
 * Bundles the CLI with esbuild into one CommonJS script (part of `npm run build`):
 * - build/egg.cjs, which the npm package's `egg` (cli/bin/egg.js) loads;
 * - with --sea, build/sea/egg.cjs, the same CLI as the script of a Node single executable
 *   application (scripts/binary.js).
 * One CommonJS file, not ES modules split into chunks: Node builds an ES module namespace
 * for each built-in an ES module imports, reading every export, and node:http's lazy
 * WebSocket exports then load undici, which alone costs about as much as Node's start-up.
 * Modules a command loads with `await import()` are evaluated only when it runs.
 * TypeScript is only stripped here; `npm run typecheck` checks it.
 */
import { statSync } from 'node:fs';
import { build } from 'esbuild';

const ENTRIES = { 'build/egg.cjs': 'cli/main.ts', 'build/sea/egg.cjs': 'cli/sea.ts' };

for (const [outfile, entry] of Object.entries(ENTRIES)) {
  if (outfile.startsWith('build/sea/') && !process.argv.includes('--sea')) continue;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node22',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    // oclif loads TypeScript only to run a plugin's uncompiled sources in development.
    external: ['typescript'],
  });
  process.stdout.write(`${outfile} ${statSync(outfile).size} B\n`);
}
