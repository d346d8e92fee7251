import { Args, Flags } from '@oclif/core';
import { assertSecretName } from '../../../src/names.js';
import { formatPrice, parsePrice } from '../../../src/tokens/price.js';
import { canonicalInject, parseUpstream } from '../../../src/tokens/upstream.js';
import { parseExpiry } from '../../../src/expiry.js';
import { EggCommand } from '../../base.js';
import { readSecretValue } from '../../io.js';

export default class SecretsSet extends EggCommand {
  static override summary = 'Store a secret.';
  static override description =
    'Where the value comes from, so that it never lands in your shell history: a hidden prompt on a terminal (one line, the Enter not stored), stdin when it is a pipe or a file (byte for byte, no newline stripped), --from-file, or --from-env. It is encrypted under a fresh data key.';
  static override examples = [
    '<%= config.bin %> secrets set STRIPE_KEY                        # prompts; what you type is not shown',
    '<%= config.bin %> secrets set TLS_CERT < cert.pem',
    '<%= config.bin %> secrets set DB_URL --from-file ./db-url.txt -n acme/web/prod',
    '<%= config.bin %> secrets set NPM_TOKEN --from-env NPM_TOKEN    # e.g. a variable your CI provides',
    '<%= config.bin %> secrets set OPENAI_KEY --upstream https://api.openai.com',
    "<%= config.bin %> secrets set ANTHROPIC_KEY --from-env ANTHROPIC_API_KEY --upstream https://api.anthropic.com --inject 'x-api-key: {}'",
    '<%= config.bin %> secrets set OPENAI_KEY --upstream https://api.openai.com --price input=2.5,output=10   # per 1M tokens',
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
    'from-file': Flags.string({
      summary: 'Read the value from this file, byte for byte.',
      exclusive: ['value', 'from-env'],
    }),
    'from-env': Flags.string({
      summary: 'Read the value from this environment variable (set by your CI or a password manager).',
      exclusive: ['value', 'from-file'],
    }),
    upstream: Flags.string({
      summary:
        'Make this a provider key: the only origin `egg proxy serve` may send it to (https://host[:port]).',
    }),
    expires: Flags.string({
      summary:
        'When the value expires: a duration (90d, 12h, 2w) or a date (2026-06-30). Reads warn after it.',
    }),
    inject: Flags.string({
      summary:
        "How the proxy sends the key: a header template with {} for the key. Default: 'Authorization: Bearer {}'.",
      dependsOn: ['upstream'],
    }),
    price: Flags.string({
      summary:
        "What its tokens spend per token kind, when the upstream reports usage: 'input=2.5,output=10' (optionally cache-read=, cache-write=, max-output=TOKENS). Caps are then in micro-units (docs/spend.md).",
    }),
    'price-unit': Flags.string({
      summary: 'What the --price figures are per: per-1M tokens (default) or per-1K.',
      options: ['per-1M', 'per-1K'],
      dependsOn: ['price'],
    }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsSet);
    const config = this.eggConfig(flags);
    assertSecretName(args.name);
    const proxy = {
      ...(flags.upstream === undefined ? {} : { upstream: parseUpstream(flags.upstream) }),
      ...(flags.inject === undefined ? {} : { inject: canonicalInject(flags.inject) }),
      ...(flags.price === undefined
        ? {}
        : {
            price: formatPrice(
              parsePrice(flags.price, (flags['price-unit'] ?? 'per-1M') as 'per-1M' | 'per-1K'),
            ),
          }),
      ...(flags.expires === undefined ? {} : { expires: parseExpiry(flags.expires, new Date()) }),
    };
    const value = await readSecretValue(args.name, args.value, flags);
    try {
      const meta = await this.withSecrets(config, (vault) => vault.set(args.name, value, proxy), {
        create: true,
      });
      const pinned = meta.upstream === undefined ? '' : `, pinned to ${meta.upstream}`;
      const expires = meta.expires === undefined ? '' : `, expires ${meta.expires}`;
      const priced = meta.price === undefined ? '' : `, priced ${meta.price} per 1M tokens`;
      this.log(`Set ${meta.name} in ${config.namespace} (rev ${meta.rev}${pinned}${priced}${expires}).`);
      return { namespace: config.namespace, ...meta };
    } finally {
      value.fill(0);
    }
  }
}
