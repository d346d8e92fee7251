#!/usr/bin/env node
// The `egg` entry point of the npm package. It checks the Node version, answers `--version`
// before anything loads, and runs the bundle (build/egg.cjs, made by scripts/bundle.js) from
// a private code cache: one file, and only the modules the command uses are evaluated.
const RELEASES = 'https://github.com/eggcarton/action/releases/latest';
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `Error: egg needs Node 22.13 or later (this is Node ${process.versions.node}); ` +
      `or download the standalone binary, which needs no Node, from ${RELEASES}.\n`,
  );
  process.exit(1);
}
/**
 * Warnings for features egg relies on knowingly: node:sqlite (the local vault) works on
 * Node 22 but announces itself as experimental there; and the bundle's few `import()`s
 * (node-pty, some built-ins) resolve through Node's own loader (`load` below), a vm option
 * Node 22 and 24 still call experimental.
 */
const KNOWN_WARNINGS = [
  'SQLite is an experimental feature',
  'vm.USE_MAIN_CONTEXT_DEFAULT_LOADER is an experimental feature',
];
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  if (KNOWN_WARNINGS.some((known) => String(warning).startsWith(known))) return;
  return emitWarning.call(process, warning, ...rest);
};
// Built-ins come from process.getBuiltinModule: an `import` of one makes Node build an ES
// module namespace of all its exports, which costs several ms per module at every start.
const fs = process.getBuiltinModule('node:fs');
const module = process.getBuiltinModule('node:module');
const { fileURLToPath } = process.getBuiltinModule('node:url');

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  process.stdout.write(
    `${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-v${process.versions.node}\n`,
  );
} else {
  const bundle = fileURLToPath(new URL('../../build/egg.cjs', import.meta.url));
  const { main } = load(bundle, privateCacheDir());
  await main(argv, fileURLToPath(new URL('../../build/', import.meta.url)));
}

/**
 * `EGG_HOME/cache` when `EGG_HOME` is a directory of this user's that nobody else may
 * write (home.ts makes it 0700); else undefined, and nothing is cached. A code cache is
 * code: V8 runs what it holds without checking it against the source, so one that another
 * user could plant (as in the world-writable temporary directory, Node's default for
 * `module.enableCompileCache()`) would run as this user, beside the secrets.
 */
function privateCacheDir() {
  const { join, resolve } = process.getBuiltinModule('node:path');
  const home = resolve(process.env.EGG_HOME ?? join(process.getBuiltinModule('node:os').homedir(), '.egg'));
  const uid = process.getuid?.();
  try {
    const stat = fs.lstatSync(home);
    if (uid === undefined || !stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o022) !== 0)
      return undefined;
    const dir = join(home, 'cache');
    fs.mkdirSync(dir, { mode: 0o700 });
    return dir;
  } catch (error) {
    if (error.code === 'EEXIST') {
      const dir = join(home, 'cache');
      const stat = fs.lstatSync(dir);
      return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0 ? dir : undefined;
    }
    return undefined;
  }
}

/**
 * Load the bundle with a V8 code cache made after the command ran, so it holds every
 * function the command compiled, not only the top level that Node's compile cache keeps:
 * the next start deserializes instead of parsing and compiling them again. V8 checks only the
 * source's length, so the cache's name carries the bundle file's identity (device, inode,
 * size, and change time, which every write to the file moves and nobody can set back) and
 * the Node version; a cache V8 rejects (damaged, or other flags) is made again. (A checksum
 * of the bundle would load node:zlib, and read it all, at every start.)
 */
function load(bundle, cacheDir) {
  const vm = process.getBuiltinModule('node:vm');
  const { dirname, join } = process.getBuiltinModule('node:path');
  const fd = fs.openSync(bundle, 'r');
  let source;
  let identity;
  try {
    // The identity of the bytes read: the same descriptor, whatever replaces the path meanwhile.
    const stat = fs.fstatSync(fd, { bigint: true });
    identity = [stat.dev, stat.ino, stat.size, stat.ctimeNs]
      .map((n) => n.toString(16).padStart(16, '0'))
      .join('');
    source = fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  let cacheFile;
  let cachedData;
  if (cacheDir) {
    // build/vendor.cjs (the AWS SDK and the rest the bundle holds apart) through Node's own cache.
    module.enableCompileCache(join(cacheDir, 'node'));
    cacheFile = join(cacheDir, `egg-${identity}-${process.version}-${process.arch}.v8`);
    try {
      cachedData = fs.readFileSync(cacheFile);
    } catch {
      // Not made yet: this run makes it.
    }
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    process.once('exit', () => saveCache(script, cacheFile));
  }
  const exports = {};
  const commonJs = { exports, filename: bundle };
  script.runInThisContext()(exports, module.createRequire(bundle), commonJs, bundle, dirname(bundle));
  return commonJs.exports;
}

/** Write the cache beside its final name and rename it there, so no reader sees half of one. */
function saveCache(script, cacheFile) {
  const partial = `${cacheFile}.${process.pid}`;
  try {
    fs.writeFileSync(partial, script.createCachedData(), { mode: 0o600, flag: 'wx' });
    fs.renameSync(partial, cacheFile);
  } catch {
    // A cache is only an optimisation: a full disk or a race loses nothing.
    fs.rmSync(partial, { force: true });
  }
}
