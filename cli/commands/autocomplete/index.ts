import { ux } from '@oclif/core';
import PluginAutocomplete from '../../../node_modules/@oclif/plugin-autocomplete/lib/commands/autocomplete/index.js';
import AutocompleteCreate from './create.js';
import { shellArg } from './shells.js';

/** `egg autocomplete [SHELL]`: @oclif/plugin-autocomplete's command, with fish. */
export default class Autocomplete extends PluginAutocomplete {
  static override args = { shell: shellArg };
  static override examples = [...PluginAutocomplete.examples, '$ <%= config.bin %> autocomplete fish'];

  override async run() {
    const { args, flags } = await this.parse(Autocomplete);
    const shell = args.shell ?? this.determineShell(this.config.shell);
    ux.action.start('Building the autocomplete cache');
    await AutocompleteCreate.run([], this.config);
    ux.action.stop();
    if (flags['refresh-cache']) return;
    if (shell === 'fish') this.log(fishInstructions(this.config.bin));
    // Private in the plugin's types only; it prints the plugin's steps for bash, zsh and PowerShell.
    else (this as unknown as { printShellInstructions(shell: string): void }).printShellInstructions(shell);
  }
}

function fishInstructions(bin: string): string {
  return `
Setup Instructions for ${bin.toUpperCase()} CLI Autocomplete (fish)
1) Run this command in your terminal window:

  mkdir -p ~/.config/fish/completions; ${bin} autocomplete script fish > ~/.config/fish/completions/${bin}.fish

2) Start using autocomplete:

  ${bin} <TAB>                  # Command completion
  ${bin} command --<TAB>        # Flag completion
`;
}
