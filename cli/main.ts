/**
 * The CLI inside its bundle: oclif's configuration comes from the package.json embedded at
 * bundle time and the command classes in `COMMANDS`, so a run reads no manifest, no
 * package.json and no command file from disk. The npm package's `egg` and the standalone
 * binary both start here.
 */
import { execute, type Interfaces, Plugin } from '@oclif/core';
import pkg from '../package.json' with { type: 'json' };
import { COMMANDS } from './index.js';

/** Run `egg` with `argv`; `root` is where oclif would look for files (none are needed). */
export async function main(argv: string[], root: string): Promise<void> {
  const pjson = {
    name: pkg.name,
    version: pkg.version,
    type: pkg.type,
    oclif: pkg.oclif,
  } as unknown as Interfaces.PJSON;
  const plugin = new Plugin({ isRoot: true, root, pjson });
  // The "explicit" strategy would import its target file; hand it the classes instead.
  Object.assign(plugin, { commandCache: COMMANDS });
  await plugin.load();
  await execute({ args: argv, loadOptions: { root, pjson, plugins: new Map([[plugin.name, plugin]]) } });
}
