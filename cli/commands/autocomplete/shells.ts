/**
 * The shells `egg autocomplete` writes completion for: @oclif/plugin-autocomplete's (bash,
 * zsh, PowerShell) and fish, which egg adds (cli/fish-completion.ts). The plugin exports no
 * modules, so its commands are imported by file, and these classes extend them.
 */
import { join } from 'node:path';
import { Args, type Config } from '@oclif/core';

export const SHELLS = ['bash', 'zsh', 'fish', 'powershell'];

export const shellArg = Args.string({ description: 'Shell type', options: SHELLS, required: false });

/** Where `egg autocomplete` writes the fish completion (beside the plugin's bash and zsh files). */
export function fishCompletionPath(config: Config): string {
  return join(config.cacheDir, 'autocomplete', 'functions', 'fish', `${config.bin}.fish`);
}
