/**
 * The console page's script and style. From the sources (tests, development) they are built
 * with esbuild on first use; in the CLI bundle scripts/bundle.js replaces this module with
 * the built text, so the package ships them and needs no esbuild, nor any download.
 */
import type { ConsoleAssets } from './server.js';

let built: Promise<ConsoleAssets> | undefined;

export function consoleAssets(): Promise<ConsoleAssets> {
  built ??= import('../../scripts/console-web.js').then((web) => web.buildConsoleWeb());
  return built;
}
