import { Args, Flags } from '@oclif/core';
import { FORMATS, type Format, formatSecrets } from '../../../src/formats/index.js';
import { writePrivateFile } from '../../../src/own-files.js';
import { EggCommand } from '../../base.js';

export default class SecretsPull extends EggCommand {
  static override summary = 'Print secrets as dotenv, json, shell or docker env-file.';
  static override description =
    'Pulls the named secrets (all of the namespace when none are named). Each format round-trips every value exactly through the tool that reads it; a value a format cannot carry is refused with the secret named. Every read is audited and re-encrypts the secret under a fresh data key.';
  static override examples = [
    '<%= config.bin %> secrets pull > .env',
    '<%= config.bin %> secrets pull --format shell DB_URL API_KEY',
    'eval "$(<%= config.bin %> secrets pull --format shell)"',
    '<%= config.bin %> secrets pull --format docker --out app.env && docker run --env-file app.env app',
  ];
  static override strict = false;
  static override args = {
    names: Args.string({ ignoreStdin: true, description: 'Secret names to pull (default: all).' }),
  };
  static override flags = {
    format: Flags.string({ char: 'f', summary: 'Output format.', options: [...FORMATS], default: 'dotenv' }),
    json: Flags.boolean({ summary: 'Same as --format json.' }),
    out: Flags.string({ char: 'o', summary: 'Write to this file (mode 0600) instead of stdout.' }),
    strict: Flags.boolean({
      summary: 'Fail, printing nothing, when a secret read has expired (default: warn).',
    }),
  };

  async run() {
    const { argv, flags } = await this.parse(SecretsPull);
    const config = this.eggConfig(flags);
    const names = argv.length === 0 ? undefined : (argv as string[]);
    const format = (flags.json ? 'json' : flags.format) as Format;
    const { secrets } = await this.withSecrets(config, (vault) => vault.pull(names));
    this.checkExpiry(secrets, flags.strict);
    let output: Buffer | undefined;
    try {
      output = formatSecrets(secrets, format);
      if (flags.out === undefined) {
        process.stdout.write(output as Buffer);
      } else {
        writePrivateFile(flags.out, output as Buffer, { what: 'secrets' });
        process.stderr.write(`Wrote ${secrets.length} secrets to ${flags.out} (mode 0600).\n`);
      }
    } finally {
      output?.fill(0);
      for (const secret of secrets) secret.value.fill(0);
    }
  }
}
