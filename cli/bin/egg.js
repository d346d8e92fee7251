#!/usr/bin/env node
// The `egg` entry point of the npm package. It checks the Node version, turns the compile
// cache on, answers `--version` before anything loads, and runs the bundle (build/egg.cjs,
// made by scripts/bundle.js): one file, and only the modules the command uses are evaluated.
const RELEASES = 'https://github.com/eggcarton/action/releases/latest';
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `Error: egg needs Node 22.13 or later (this is Node ${process.versions.node}); ` +
      `or download the standalone binary, which needs no Node, from ${RELEASES}.\n`,
  );
  process.exit(1);
}
if (major === 22) {
  // node:sqlite (the local vault) works on Node 22 but announces itself as experimental there.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    if (String(warning).startsWith('SQLite is an experimental feature')) return;
    return emitWarning.call(process, warning, ...rest);
  };
}
// Built-ins come from process.getBuiltinModule: an `import` of one makes Node build an ES
// module namespace of all its exports, which costs several ms per module at every start.
const { readFileSync } = process.getBuiltinModule('node:fs');
const module = process.getBuiltinModule('node:module');
const { fileURLToPath } = process.getBuiltinModule('node:url');
module.enableCompileCache();

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  process.stdout.write(
    `${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-v${process.versions.node}\n`,
  );
} else {
  const { main } = module.createRequire(import.meta.url)('../../build/egg.cjs');
  await main(argv, fileURLToPath(new URL('../../build/', import.meta.url)));
}
