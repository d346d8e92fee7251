import { Flags } from '@oclif/core';
import { EggError } from '../../src/errors.js';
import { isEnvText, leftOut, NOT_ENV_TEXT } from '../../src/formats/bytes.js';
import { CommandNotRunnable, runChild } from '../../src/run/run.js';
import { secretMasks } from '../../src/run/secret-masks.js';
import { EggCommand } from '../base.js';

export default class Run extends EggCommand {
  static override summary =
    "Run a command with the namespace's secrets in its environment, masked in its output.";
  static override description =
    "Every secret becomes an environment variable of the child. Its stdout and stderr pass through a masker that replaces each value, each line of a multi-line value, and its base64, URL-encoded and JSON-escaped forms (what the Action masks) with *** (also when a value is split across writes); on a terminal the child gets a pseudo-terminal of its own (colours, prompts, window size, Ctrl-C), and its stderr stays apart from stdout whenever egg's stderr is not that terminal (`egg run -- cmd 2>errors.log` works as in a shell). Signals are forwarded, and egg exits with the child's exit code. Values shorter than 3 bytes are not masked (you are warned), and values that are not UTF-8 text are not injected, since an environment variable cannot carry them exactly.";
  static override examples = [
    '<%= config.bin %> run -- npm start',
    '<%= config.bin %> run -n acme/web/prod -- sh -c \'deploy --token "$DEPLOY_TOKEN"\'',
    '<%= config.bin %> run --only DB_URL -- psql "$DB_URL"',
  ];
  static override strict = false;
  static override flags = {
    mask: Flags.boolean({ summary: 'Mask secret values in the output.', default: true, allowNo: true }),
    only: Flags.string({ summary: 'Inject only these secrets (repeatable).', multiple: true }),
    strict: Flags.boolean({
      summary: 'Fail, running nothing, when a secret read has expired (default: warn).',
    }),
  };

  async run() {
    const { argv, flags } = await this.parse(Run);
    const command = argv as string[];
    if (command.length === 0) {
      throw new EggError('ERR_USAGE', 'no command given', {
        hint: 'put it after --, as in `egg run -- npm start`',
      });
    }
    const config = this.eggConfig(flags);
    const { secrets } = await this.withSecrets(config, (vault) => vault.pull(flags.only));
    this.checkExpiry(secrets, flags.strict);
    const env: Record<string, string | undefined> = { ...process.env };
    for (const secret of secrets) {
      if (isEnvText(secret.value)) env[secret.name] = secret.value.toString('utf8');
      else
        process.stderr.write(
          `Warning: ${leftOut(secret.name, NOT_ENV_TEXT, "the command's environment")}.\n`,
        );
    }
    const masks = flags.mask ? secretMasks(secrets.map((s) => s.value)) : undefined;
    for (const index of masks?.skipped ?? []) {
      process.stderr.write(
        `Warning: ${secrets[index]?.name} is shorter than 3 bytes, so it is not masked.\n`,
      );
    }
    try {
      process.exitCode = await runChild({
        command,
        env,
        secrets: masks?.set ?? [],
        mask: flags.mask,
        logger: this.logger,
      });
    } catch (error) {
      if (!(error instanceof CommandNotRunnable)) throw error;
      process.stderr.write(`Error: ${error.message}.\n`);
      process.exitCode = error.exitCode;
    } finally {
      masks?.set.dispose();
      for (const secret of secrets) secret.value.fill(0);
    }
  }
}
