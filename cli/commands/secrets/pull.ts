import { Args, Flags } from '@oclif/core';
import { leftOut, type Unrepresentable } from '../../../src/formats/bytes.js';
import { FORMATS, type Format, formatSecrets } from '../../../src/formats/index.js';
import { writePrivateFile } from '../../../src/own-files.js';
import { EggCommand } from '../../base.js';

export default class SecretsPull extends EggCommand {
  static override summary = 'Print secrets as dotenv, json, shell or docker env-file.';
  static override description =
    'Pulls the named secrets (all of the namespace when none are named). Each format round-trips every value exactly through the tool that reads it. A value a format cannot carry (bytes that are not UTF-8, or hold NUL, in dotenv, shell or docker; a line break for docker) is left out with a warning naming the secret, or refused with --strict; json carries every value, bytes that are not UTF-8 as {"base64": "…"}, which `egg secrets import` reads back exactly. Every read is audited and re-encrypts the secret under a fresh data key.';
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
      summary:
        'Fail, printing nothing, when a secret read has expired or the format cannot carry a value (default: warn, and leave that value out).',
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
    let skipped = 0;
    const skip = ({ secret, reason, instead }: Unrepresentable) => {
      skipped++;
      process.stderr.write(`Warning: ${leftOut(secret, reason, `the ${format} output`)}; ${instead}.\n`);
    };
    try {
      output = formatSecrets(secrets, format, flags.strict ? {} : { skip });
      if (flags.out === undefined) {
        process.stdout.write(output as Buffer);
      } else {
        writePrivateFile(flags.out, output as Buffer, { what: 'secrets' });
        process.stderr.write(`Wrote ${secrets.length - skipped} secrets to ${flags.out} (mode 0600).\n`);
      }
    } finally {
      output?.fill(0);
      for (const secret of secrets) secret.value.fill(0);
    }
  }
}
