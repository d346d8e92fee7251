/**
 * The CLI inside its bundle: oclif's configuration comes from the package.json embedded at
 * bundle time and the command classes in `COMMANDS`, so a run reads no manifest, no
 * package.json and no command file from disk. Only the command argv names is loaded, with
 * the modules it imports. The npm package's `egg` and the standalone binary both start here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Config, execute, type Interfaces, Plugin } from '@oclif/core';
import pkg from '../package.json' with { type: 'json' };
import { COMMANDS } from './index.js';
import { commandNotFound } from './not-found.js';

/** Commands that read every command's flags and summaries: these load all the classes. */
const NEED_ALL = new Set(['help', 'autocomplete', 'autocomplete:create']);

/** Run `egg` with `argv`; `root` is where oclif would look for files (none are needed). */
export async function main(argv: string[], root: string): Promise<void> {
  const pjson = {
    name: pkg.name,
    version: pkg.version,
    type: pkg.type,
    // The "explicit" strategy would import its target; the classes are handed to it below.
    oclif: {
      ...pkg.oclif,
      commands: { strategy: 'explicit', target: 'cli/index.js', identifier: 'COMMANDS' },
    },
  } as unknown as Interfaces.PJSON;
  const id = commandId(argv);
  // Help lists a topic's commands under a command of the same name (`egg audit -h`).
  const help = argv.includes('-h') || argv.includes('--help');
  const ids = id === undefined || help || NEED_ALL.has(id) ? Object.keys(COMMANDS) : [id];
  const classes = await Promise.all(ids.map(async (id) => [id, (await COMMANDS[id]!()).default] as const));
  // The classes are in the bundle: no oclif.manifest.json to look for (two reads that fail).
  const plugin = new Plugin({ isRoot: true, root, pjson, ignoreManifest: true });
  Object.assign(plugin, { commandCache: Object.fromEntries(classes) });
  await plugin.load();
  handleCommandNotFound();
  readThemeOnlyWhenThere();
  await execute({ args: argv, loadOptions: { root, pjson, plugins: new Map([[plugin.name, plugin]]) } });
}

/**
 * oclif imports each hook from a file named in package.json, and the bundle and the binary
 * have no files: the one hook egg uses, for a command name it does not know, is handed to
 * oclif's Config here instead.
 */
function handleCommandNotFound(): void {
  const runHook = Config.prototype.runHook;
  Config.prototype.runHook = function (this: Config, event, options, ...rest) {
    if (event === 'command_not_found') commandNotFound(this, (options as { id: string }).id);
    return runHook.call(this, event, options, ...rest);
  } as typeof runHook;
}

/**
 * oclif reads the user's theme (`~/.config/eggcarton/theme.json`) at every start with an
 * asynchronous read, which loads node:fs/promises and starts libuv's thread pool for a file
 * that is almost never there. Look for it first, synchronously; when it is there, oclif
 * reads it as before. (egg's package.json sets no default theme, so none is lost.)
 */
function readThemeOnlyWhenThere(): void {
  const loadTheme = Config.prototype.loadTheme;
  Config.prototype.loadTheme = async function (this: Config) {
    return existsSync(join(this.configDir, 'theme.json')) ? loadTheme.call(this) : undefined;
  };
}

/** The id of the command argv runs (`secrets list` → `secrets:list`, `alerts rules set` → `alerts:rules:set`), if it names one. */
function commandId(argv: string[]): string | undefined {
  const words = argv.slice(0, 3).filter((word) => !word.startsWith('-'));
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(':');
    if (Object.hasOwn(COMMANDS, id)) return id;
  }
  return undefined;
}
