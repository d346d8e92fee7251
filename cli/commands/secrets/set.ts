import { Args, Flags } from '@oclif/core';
import { assertSecretName } from '../../../src/names.js';
import { parseInject, parseUpstream } from '../../../src/tokens/upstream.js';
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
    "printf %s 'sk-…' | <%= config.bin %> secrets set OPENAI_KEY --upstream https://api.openai.com",
    "printf %s 'sk-ant-…' | <%= config.bin %> secrets set ANTHROPIC_KEY --upstream https://api.anthropic.com --inject 'x-api-key: {}'",
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
    upstream: Flags.string({
      summary:
        'Make this a provider key: the only origin `egg proxy serve` may send it to (https://host[:port]).',
    }),
    inject: Flags.string({
      summary:
        "How the proxy sends the key: a header template with {} for the key. Default: 'Authorization: Bearer {}'.",
      dependsOn: ['upstream'],
    }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsSet);
    const config = this.eggConfig(flags);
    assertSecretName(args.name);
    const proxy = {
      ...(flags.upstream === undefined ? {} : { upstream: parseUpstream(flags.upstream) }),
      ...(flags.inject === undefined ? {} : { inject: formatInject(flags.inject) }),
    };
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
      const meta = await this.withVault(config, (vault) => vault.set(args.name, value, proxy), {
        create: true,
      });
      const pinned = meta.upstream === undefined ? '' : `, pinned to ${meta.upstream}`;
      this.log(`Set ${meta.name} in ${config.namespace} (rev ${meta.rev}${pinned}).`);
      return { namespace: config.namespace, ...meta };
    } finally {
      value.fill(0);
    }
  }
}

/** The template in its canonical form (`name: prefix{}suffix`), after checking it. */
function formatInject(value: string): string {
  const template = parseInject(value);
  return `${template.name}: ${template.prefix}{}${template.suffix}`;
}
