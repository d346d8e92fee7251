import { Args, Flags } from '@oclif/core';
import { defaultHome } from '../../src/home.js';
import { inspectProjectFile, type ProjectTrust, revokeTrust, trustProjectFile } from '../../src/trust.js';
import { EggCommand } from '../base.js';

export default class Trust extends EggCommand {
  static override summary = "Trust this project's .egg.json, so egg applies the settings that route secrets.";
  static override description =
    'egg reads .egg.json only from the current directory or the root of its git repository, only when it is a regular file of yours that no one else can write. Its settings that decide where secrets go or come from (backend, namespace, keyring, rotation, table, region, kmsKeyId, signingKeyId, oidcIssuer, oidcClientId, roleArn) apply only after you trust its exact content here: egg records the path and SHA-256 in EGG_HOME/trusted.json, and refuses to run with a file that sets them and is not trusted, or has changed since. Read the file first; egg trust prints what it trusts.';
  static override examples = [
    '<%= config.bin %> trust --show',
    '<%= config.bin %> trust',
    '<%= config.bin %> trust --revoke',
    '<%= config.bin %> trust --revoke ~/old-checkout/.egg.json',
  ];
  static override enableJsonFlag = true;
  // Trust concerns one file, not a namespace or a backend: none of the global flags apply.
  static override baseFlags = {} as typeof EggCommand.baseFlags;
  static override args = {
    file: Args.string({
      description: 'The file to trust, show or forget. Default: the .egg.json egg reads in this directory.',
    }),
  };
  static override flags = {
    show: Flags.boolean({
      summary: 'Show the file, its settings and whether it is trusted; change nothing.',
    }),
    revoke: Flags.boolean({ summary: 'Forget the trust (the file may be gone).', exclusive: ['show'] }),
  };

  async run() {
    const { args, flags } = await this.parse(Trust);
    const options = {
      home: defaultHome(),
      cwd: process.cwd(),
      ...(args.file === undefined ? {} : { file: args.file }),
    };
    if (flags.revoke) {
      const result = revokeTrust(options);
      this.log(result.revoked ? `No longer trusting ${result.path}.` : `${result.path} was not trusted.`);
      return result;
    }
    if (flags.show) {
      const shown = inspectProjectFile(options);
      this.log(`${shown.path}: ${STATUS[shown.status]} (sha256 ${shown.sha256})`);
      this.printSettings(shown);
      return shown;
    }
    const trusted = trustProjectFile(options);
    this.log(`Trusted ${trusted.path} (sha256 ${trusted.sha256}).`);
    this.printSettings(trusted);
    this.log('Edit the file and it needs `egg trust` again.');
    return trusted;
  }

  private printSettings(project: ProjectTrust): void {
    const groups = [
      ['Settings that need `egg trust` (where secrets go or come from):', project.routing],
      ['Other settings:', project.other],
    ] as const;
    for (const [title, settings] of groups) {
      const entries = Object.entries(settings);
      if (entries.length === 0) continue;
      this.log(title);
      for (const [key, value] of entries) this.log(`  ${key}: ${visible(value)}`);
    }
    if (Object.keys(project.routing).length === 0) {
      this.log('It sets nothing that needs trust; egg applies it either way.');
    }
  }
}

const STATUS = {
  trusted: 'trusted',
  untrusted: 'not trusted',
  changed: 'changed since you trusted it',
} as const;

/**
 * A value as the user should read it: control characters, and the Unicode marks that reorder
 * or hide text on a terminal, shown as `\u` escapes, so a hostile file cannot disguise a value.
 */
function visible(value: string): string {
  return value.replace(HIDDEN, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what we look for
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
