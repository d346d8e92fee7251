import { isUtf8 } from 'node:buffer';
import { Args, Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class SecretsGet extends EggCommand {
  static override summary = "Print one secret's value.";
  static override description =
    'Prints the value exactly as stored (a newline is added only when stdout is a terminal). Every read is audited and re-encrypts the secret under a fresh data key.';
  static override examples = [
    '<%= config.bin %> secrets get STRIPE_KEY',
    '<%= config.bin %> secrets get TLS_CERT > cert.pem',
    '<%= config.bin %> secrets get DB_PASSWORD --rev 3 > previous.txt',
  ];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({ ignoreStdin: true, description: 'Secret name.', required: true }),
  };
  static override flags = {
    rev: Flags.integer({
      description: 'Read this earlier version (see `egg secrets history NAME`); it is re-encrypted too.',
      min: 1,
    }),
    strict: Flags.boolean({
      summary: 'Fail, printing nothing, when a secret read has expired (default: warn).',
    }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsGet);
    const config = this.eggConfig(flags);
    const secret = await this.withSecrets(config, (vault) =>
      flags.rev === undefined ? vault.get(args.name) : vault.getVersion(args.name, flags.rev),
    );
    this.checkExpiry([secret], flags.strict);
    try {
      if (this.jsonEnabled()) {
        const utf8 = isUtf8(secret.value);
        return {
          name: secret.name,
          namespace: config.namespace,
          encoding: utf8 ? 'utf8' : 'base64',
          value: secret.value.toString(utf8 ? 'utf8' : 'base64'),
          rev: secret.rev,
          gen: secret.gen,
        };
      }
      process.stdout.write(secret.value);
      if (process.stdout.isTTY) process.stdout.write('\n');
      return undefined;
    } finally {
      secret.value.fill(0);
    }
  }
}
