import { Args, Flags } from '@oclif/core';
import { assertSecretName } from '../../../src/names.js';
import { EggCommand } from '../../base.js';
import { readStdin } from '../../io.js';

export default class SecretsSet extends EggCommand {
  static override summary = 'Store a secret.';
  static override description =
    'Reads the value from stdin when no VALUE is given, so it never lands in your shell history. The value is stored byte for byte (no trailing newline is stripped), encrypted under a fresh data key.';
  static override examples = [
    "printf %s 'sk-live-…' | <%= config.bin %> secrets set STRIPE_KEY",
    '<%= config.bin %> secrets set TLS_CERT < cert.pem',
    '<%= config.bin %> secrets set DB_URL --from-file ./db-url.txt -n acme/web/prod',
  ];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({
      ignoreStdin: true,
      description: 'Secret name (an environment variable name).',
      required: true,
    }),
    value: Args.string({
      ignoreStdin: true,
      description: 'The value (avoid: it ends up in shell history); default: stdin.',
    }),
  };
  static override flags = {
    'from-file': Flags.file({
      summary: 'Read the value from this file.',
      exists: true,
      exclusive: ['value'],
    }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsSet);
    const config = this.eggConfig(flags);
    assertSecretName(args.name);
    let value: Buffer;
    if (args.value !== undefined) {
      process.stderr.write(
        'Warning: a value given on the command line can be seen in your shell history and the process list; pipe it on stdin instead.\n',
      );
      value = Buffer.from(args.value);
    } else if (flags['from-file'] !== undefined) {
      const { readFileSync } = await import('node:fs');
      value = readFileSync(flags['from-file']);
    } else {
      if (process.stdin.isTTY) process.stderr.write(`Enter the value for ${args.name}, then press Ctrl-D:\n`);
      value = await readStdin();
    }
    try {
      const meta = await this.withVault(config, (vault) => vault.set(args.name, value), { create: true });
      this.log(`Set ${meta.name} in ${config.namespace} (rev ${meta.rev}).`);
      return { namespace: config.namespace, ...meta };
    } finally {
      value.fill(0);
    }
  }
}
