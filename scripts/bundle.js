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
import { buildConsoleWeb } from './console-web.js';

/**
 * Modules oclif loads at start-up for features egg does not use, replaced in the bundle:
 * `egg` lists its commands (cli/index.ts), so nothing is globbed; cli/bin/egg.js checks the
 * Node version itself; `debug` loads only when DEBUG asks for oclif's debug output; and
 * oclif's platform is plain linux under WSL too (it reads /proc to tell, on every start).
 */
const STUBS = {
  tinyglobby:
    "const none = () => { throw new Error('egg lists its commands explicitly'); }; module.exports = { glob: none, globSync: none };",
  semver: 'module.exports = { satisfies: () => true };',
  'is-wsl': 'module.exports = false;',
  debug: `const off = (namespace) => Object.assign(() => {}, { enabled: false, namespace, extend: (ns) => off(namespace + ':' + ns) });
module.exports = process.env.DEBUG ? require('debug/src/index.js') : Object.assign(off, { enable() {}, disable: () => '', enabled: () => false });`,
};
const stubs = {
  name: 'stubs',
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(STUBS).join('|')})$`);
    build.onResolve({ filter }, (args) =>
      /node_modules[\\/](@oclif[\\/]core|wsl-utils)[\\/]/.test(args.importer)
        ? { path: args.path, namespace: 'stub' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
      contents: STUBS[args.path],
      loader: 'js',
      resolveDir: process.cwd(),
    }));
  },
};

/**
 * `egg console`'s page, built once and put in place of src/console/assets.ts (which builds it
 * from the sources at run time): the package and the binary carry it, loaded only by that command.
 */
const web = await buildConsoleWeb();
const consoleAssets = {
  name: 'console-assets',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]console[\\/]assets\.ts$/ }, () => ({
      contents: `const assets = ${JSON.stringify(web)}; export const consoleAssets = async () => assets;`,
      loader: 'js',
    }));
  },
};

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
    // node-pty is a native addon, which no bundle can hold: `egg run` loads it from the
    // package's node_modules on a terminal (the binary cannot, and falls back).
    external: ['typescript', '@lydell/node-pty'],
    plugins: [stubs, consoleAssets],
  });
  process.stdout.write(`${outfile} ${statSync(outfile).size} B\n`);
}
