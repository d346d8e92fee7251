import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { EggError } from '../../../src/errors.js';
import { IMPORT_FORMATS, type ImportFormat, parseSecrets } from '../../../src/formats/parse.js';
import { EggCommand } from '../../base.js';
import { readStdin } from '../../io.js';

export default class SecretsImport extends EggCommand {
  static override summary = 'Store every secret of a dotenv, JSON or docker env-file at once, or none.';
  static override description =
    'Reads FILE (or stdin for -) as `egg secrets pull` writes it: dotenv, one flat JSON object, or a docker env-file, detected unless --format says. All secrets are written or none are: on the local vault in one transaction; on DynamoDB one by one (the grant roles may not write transactions), so a reader may see the import half-done, a failure puts back what was written, and a run cut short is finished by running it again. With the api backend the import is one request, refused whole if larger than the API takes (128 KiB of JSON): split the file. Each secret gets its own data key. --dry-run names what would be added, changed or left alone, never a value. One audit record names them all.';
  static override examples = [
    '<%= config.bin %> secrets import .env --dry-run',
    '<%= config.bin %> secrets import .env -n acme/web/prod',
    '<%= config.bin %> secrets pull --format json -n acme/web/staging | <%= config.bin %> secrets import - -n acme/web/prod',
  ];
  static override enableJsonFlag = true;
  static override args = {
    file: Args.string({
      ignoreStdin: true,
      description: 'The file to read, or - for stdin.',
      required: true,
    }),
  };
  static override flags = {
    format: Flags.string({
      char: 'f',
      summary: 'The file format (default: detected).',
      options: [...IMPORT_FORMATS],
    }),
    'dry-run': Flags.boolean({ summary: 'Show what would be added, changed or left alone; write nothing.' }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsImport);
    const config = this.eggConfig(flags);
    const file = args.file === '-' ? await readStdin() : readInput(args.file);
    let secrets: { name: string; value: Buffer }[] = [];
    try {
      const parsed = parseSecrets(file, flags.format as ImportFormat | undefined);
      secrets = parsed.secrets;
      const dryRun = flags['dry-run'];
      const plan = await this.withSecrets(config, (vault) => vault.import(secrets, { dryRun }), {
        create: !dryRun,
      });
      const verb = dryRun ? 'Would import' : 'Imported';
      this.log(`${verb} ${secrets.length} secrets (${parsed.format}) into ${config.namespace}:`);
      for (const [label, names] of [
        ['add', plan.added],
        ['change', plan.changed],
        ['leave alone', plan.unchanged],
      ] as const)
        this.log(`  ${label}: ${names.length === 0 ? '-' : names.join(', ')}`);
      return { namespace: config.namespace, format: parsed.format, dryRun, ...plan };
    } finally {
      file.fill(0);
      for (const secret of secrets) secret.value.fill(0);
    }
  }
}

/** The file's bytes, or a usage error naming it. */
function readInput(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new EggError('ERR_USAGE', `cannot read ${path} (${(error as { code?: string }).code ?? 'error'})`, {
      cause: error,
      hint: 'give a readable file, or - to read stdin',
    });
  }
}
