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
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { buildConsoleWeb } from './console-web.js';

/** A module whose exports are `name`'s, loaded on the first use of one of them. */
const lazy = (name) =>
  `let m; const load = () => (m ??= require('${name}')); module.exports = new Proxy({}, { get: (_, key) => load()[key], has: (_, key) => key in load() });`;

/**
 * As `lazy`, for a CommonJS module oclif imports as a default: its `__importDefault` reads
 * `__esModule` as it imports, which would load the module then.
 */
const lazyDefault = (name) =>
  `let m; const load = () => (m ??= require('${name}')); module.exports = { __esModule: true, get default() { return load(); } };`;

/**
 * Modules oclif loads at start-up for features egg does not use, replaced in the bundle:
 * `egg` lists its commands (cli/index.ts), so nothing is globbed and no plugin is matched
 * against a pattern (minimatch); cli/bin/egg.js checks the Node version itself; `debug`
 * loads only when DEBUG asks for oclif's debug output; oclif's platform is plain linux
 * under WSL too (it reads /proc to tell, on every start); and the built-ins oclif needs only
 * for stdin arguments (readline), its performance marks (perf_hooks), Windows' shell
 * (child_process) and its file reads (fs/promises, with watchers, directories and readline
 * behind it: main.ts reads the theme only when it exists) load when they are first used;
 * so does lilconfig, which reads a plugin's rc files (egg hands oclif its package.json) and
 * touches `fs.promises` as it loads; and so do ansis and supports-color, which ask as they
 * load whether stdout and stderr are terminals: that makes process.stdout (and loads tty
 * and net) at every start, when only help, errors and spinners colour anything.
 */
const STUBS = {
  minimatch: 'module.exports = { minimatch: (name, pattern) => name === pattern };',
  'wsl-utils':
    "module.exports = { isWsl: false, powerShellPath: (...a) => require('wsl-utils').powerShellPath(...a) };",
  'node:readline': lazy('node:readline'),
  'node:perf_hooks': lazy('node:perf_hooks'),
  'node:child_process': lazy('node:child_process'),
  'node:fs/promises': lazy('node:fs/promises'),
  lilconfig: lazy('lilconfig'),
  ansis: lazyDefault('ansis'),
  'supports-color': lazy('supports-color'),
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
    // oclif's index checks the Node version against its own package.json, read from disk at
    // every start; cli/bin/egg.js has already checked it against egg's.
    build.onLoad({ filter: /[\\/]@oclif[\\/]core[\\/]lib[\\/]index\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('\ncheckNodeVersion();\n'))
        throw new Error(`${args.path} no longer calls checkNodeVersion()`);
      return { contents: source.replace('\ncheckNodeVersion();\n', '\n'), loader: 'js' };
    });
    // oclif's screen.js reads the terminal's width from process.stdout and process.stderr as
    // it loads, which makes both streams (and loads net and tty for a pipe or a terminal)
    // at every start; only help, errors and spinners use the widths. Read them when used.
    build.onLoad({ filter: /[\\/]@oclif[\\/]core[\\/]lib[\\/]screen\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const eager = [
        'exports.stdtermwidth = columns || termwidth(process.stdout);',
        'exports.errtermwidth = columns || termwidth(process.stderr);',
      ];
      if (!eager.every((line) => source.includes(line)))
        throw new Error(`${args.path} no longer sets its widths as it did`);
      const lazy = eager.reduce(
        (text, line) =>
          text.replace(
            line,
            line.replace(
              /^exports\.(\w+) = (.*);$/,
              "Object.defineProperty(exports, '$1', { get: () => $2, enumerable: true });",
            ),
          ),
        source,
      );
      return { contents: lazy, loader: 'js' };
    });
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
 * The packages only the AWS, GitHub and login commands use: the AWS SDK, Octokit, jose and
 * oauth4webapi, half the bundle's bytes. Every start reads, decodes and compiles the bundle
 * whole (with a code cache, still in proportion to its size), so the npm package's bundle
 * holds them apart, in build/vendor.cjs, which a command loads when it first imports one.
 * The binary keeps one file.
 */
const VENDOR = /^(@aws-sdk\/|@smithy\/|@octokit\/|jose$|oauth4webapi$)/;

function vendorApart(specifiers) {
  return {
    name: 'vendor',
    setup(build) {
      build.onResolve({ filter: VENDOR }, (args) => {
        specifiers.add(args.path);
        return { path: args.path, namespace: 'vendor' };
      });
      build.onResolve({ filter: /^\.\/vendor\.cjs$/ }, () => ({ path: './vendor.cjs', external: true }));
      build.onLoad({ filter: /.*/, namespace: 'vendor' }, (args) => ({
        contents: `module.exports = require('./vendor.cjs')(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

const COMMON = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/**
 * `egg console`'s page, built once and put in place of src/console/assets.ts (which builds it
 * from the sources at run time), loaded only by that command. The binary holds it; the npm
 * package reads it from build/console-assets.json, so the bundle every command reads at
 * start-up does not carry it.
 */
const web = await buildConsoleWeb();
function consoleAssets(inline) {
  return {
    name: 'console-assets',
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]console[\\/]assets\.ts$/ }, () => ({
        contents: inline
          ? `const assets = ${JSON.stringify(web)}; export const consoleAssets = async () => assets;`
          : "export const consoleAssets = async () => JSON.parse(await require('node:fs/promises').readFile(require('node:path').join(__dirname, 'console-assets.json'), 'utf8'));",
        loader: 'js',
      }));
    },
  };
}

/**
 * esbuild escapes what is not ASCII in strings and names but copies a regular expression as
 * written (ansis has a raw U+009B in one), and one such character makes Node decode the whole
 * bundle from UTF-8 into a two-byte string at every start. In a regular expression, as in a
 * string, `\uXXXX` is the same character (an astral one as its two halves, as it is stored).
 */
async function asciiOnly(file) {
  const text = await readFile(file, 'utf8');
  const ascii = text.replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  if (ascii !== text) await writeFile(file, ascii);
}

const ENTRIES = { 'build/egg.cjs': 'cli/main.ts', 'build/sea/egg.cjs': 'cli/sea.ts' };

for (const [outfile, entry] of Object.entries(ENTRIES)) {
  const sea = outfile.startsWith('build/sea/');
  if (sea && !process.argv.includes('--sea')) continue;
  const vendored = new Set();
  await build({
    ...COMMON,
    entryPoints: [entry],
    outfile,
    // oclif loads TypeScript only to run a plugin's uncompiled sources in development.
    // node-pty is a native addon, which no bundle can hold: `egg run` loads it from the
    // package's node_modules on a terminal (the binary cannot, and falls back).
    external: ['typescript', '@lydell/node-pty'],
    plugins: sea ? [stubs, consoleAssets(true)] : [stubs, consoleAssets(false), vendorApart(vendored)],
  });
  await asciiOnly(outfile);
  process.stdout.write(`${outfile} ${statSync(outfile).size} B\n`);
  if (sea) continue;
  const assetsFile = join(dirname(outfile), 'console-assets.json');
  await writeFile(assetsFile, JSON.stringify(web));
  process.stdout.write(`${assetsFile} ${statSync(assetsFile).size} B\n`);
  const vendorFile = join(dirname(outfile), 'vendor.cjs');
  const loaders = [...vendored]
    .sort()
    .map((name) => `${JSON.stringify(name)}: () => require(${JSON.stringify(name)}),`);
  await build({
    ...COMMON,
    stdin: {
      contents: `const load = {\n${loaders.join('\n')}\n};\nmodule.exports = (name) => load[name]();\n`,
      resolveDir: process.cwd(),
      sourcefile: 'vendor.cjs',
    },
    outfile: vendorFile,
  });
  await asciiOnly(vendorFile);
  process.stdout.write(`${vendorFile} ${statSync(vendorFile).size} B\n`);
}
