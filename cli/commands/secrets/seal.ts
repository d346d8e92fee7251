import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { EggError } from '../../../src/errors.js';
import { EggCommand } from '../../base.js';
import { readSecretValue, readStdin } from '../../io.js';

export default class SecretsSeal extends EggCommand {
  static override summary = 'Store a provider key sealed on this side, or print the key that seals them.';
  static override description =
    "Seals the key here with the namespace's RSA-OAEP-256 sealing public key (a fresh AES-256-GCM data key, wrapped and discarded) and stores only the sealed blob; the proxy's first use unseals it and moves it under the namespace's keyring. The key comes from a hidden prompt on a terminal, stdin, --from-file or --from-env, as with `secrets set`. --public-key prints the sealing public key, so a key created elsewhere can arrive sealed; --import stores such a blob (docs/sealed-keys.md has the format).";
  static override examples = [
    '<%= config.bin %> secrets seal OPENAI_KEY --upstream https://api.openai.com            # prompts; what you type is not shown',
    "<%= config.bin %> secrets seal ANTHROPIC_KEY --from-env ANTHROPIC_API_KEY --upstream https://api.anthropic.com --inject 'x-api-key: {}'",
    '<%= config.bin %> secrets seal --public-key --json > sealing-key.json',
    '<%= config.bin %> secrets seal OPENAI_KEY --upstream https://api.openai.com --import sealed.json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({ ignoreStdin: true, description: 'Secret name (an environment variable name).' }),
  };
  static override flags = {
    'public-key': Flags.boolean({
      summary: "Print the namespace's sealing public key (SPKI, base64url) and its kid; store nothing.",
      exclusive: ['upstream', 'inject', 'import', 'from-file', 'from-env'],
    }),
    upstream: Flags.string({
      summary: 'The only origin `egg proxy serve` may send the key to (https://host[:port]).',
    }),
    inject: Flags.string({
      summary:
        "How the proxy sends the key: a header template with {} for the key. Default: 'Authorization: Bearer {}'.",
      dependsOn: ['upstream'],
    }),
    'from-file': Flags.string({
      summary: 'Read the key from this file, byte for byte.',
      exclusive: ['from-env', 'import'],
    }),
    'from-env': Flags.string({
      summary: 'Read the key from this environment variable.',
      exclusive: ['from-file', 'import'],
    }),
    import: Flags.string({
      summary: 'Store a key sealed elsewhere: the sealed JSON blob in this file, or - for stdin.',
    }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsSeal);
    const config = this.eggConfig(flags);
    const { namespace } = config;
    const sealed = await import('../../../src/backends/sealed-keys.js');
    if (flags['public-key']) {
      if (args.name !== undefined)
        throw new EggError('ERR_USAGE', '--public-key takes no secret name', {
          hint: 'egg secrets seal --public-key [--json]',
        });
      const key = await this.withSession(config, (session) => session.sealing.publicKey(), {
        create: true,
      });
      this.log(`kid:  ${key.kid}\nspki: ${key.spki}`);
      return { namespace, alg: sealed.SEAL_ALG, ...key };
    }
    const { name } = args;
    const upstream = flags.upstream;
    if (name === undefined || upstream === undefined)
      throw new EggError('ERR_USAGE', 'give the secret name and --upstream, or --public-key', {
        hint: 'egg secrets seal NAME --upstream https://api.example.com',
      });
    const where = { name, upstream, inject: flags.inject };
    let meta;
    if (flags.import !== undefined) {
      const blob = parseBlob(
        flags.import,
        flags.import === '-' ? await readStdin() : readBlobFile(flags.import),
      );
      meta = await this.withSession(config, (session) => session.sealing.put({ ...where, sealed: blob }));
    } else {
      const value = await readSecretValue(name, undefined, flags);
      try {
        meta = await this.withSession(
          config,
          (session) => sealed.sealProviderKey(session.sealing, { namespace, ...where, value }),
          { create: true },
        );
      } finally {
        value.fill(0);
      }
    }
    this.log(
      `Sealed ${meta.name} in ${namespace} (rev ${meta.rev}, pinned to ${meta.upstream}); its first use unseals it.`,
    );
    return { namespace, ...meta };
  }
}

function readBlobFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new EggError(
      'ERR_USAGE',
      `--import ${path}: cannot read it (${(error as { code?: string }).code ?? 'error'}); nothing was stored`,
      {
        cause: error,
      },
    );
  }
}

/** The blob as JSON; its shape is checked by the library. */
function parseBlob(source: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new EggError('ERR_INVALID_VALUE', `--import ${source} is not JSON; nothing was stored`, {
      hint: 'give the sealed key as docs/sealed-keys.md describes it',
    });
  }
}
