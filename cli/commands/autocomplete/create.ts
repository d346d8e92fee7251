import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import PluginCreate from '../../../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/create.js';
import { fishCompletion } from '../../fish-completion.js';
import { fishCompletionPath } from './shells.js';

/** The plugin's (hidden) cache builder, which writes the fish completion too. */
export default class AutocompleteCreate extends PluginCreate {
  override async run() {
    await super.run();
    const path = fishCompletionPath(this.config);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, fishCompletion(this.config));
  }
}
