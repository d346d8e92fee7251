import PluginScript from '../../../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/script.js';
import { fishCompletionPath, shellArg } from './shells.js';

/** The plugin's (hidden) line for a shell's start-up file, and fish's. */
export default class AutocompleteScript extends PluginScript {
  static override args = { shell: shellArg };

  override async run() {
    const { args } = await this.parse(AutocompleteScript);
    if ((args.shell ?? this.config.shell) !== 'fish') return super.run();
    const path = JSON.stringify(fishCompletionPath(this.config));
    this.log(`test -f ${path}; and source ${path} # ${this.cliBin} autocomplete setup`);
  }
}
