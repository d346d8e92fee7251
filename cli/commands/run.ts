import { Flags } from '@oclif/core';
import { EggError } from '../../src/errors.js';
import { runChild } from '../../src/run/run.js';
import { EggCommand } from '../base.js';

export default class Run extends EggCommand {
  static override summary =
    "Run a command with the namespace's secrets in its environment, masked in its output.";
  static override description =
    "Every secret becomes an environment variable of the child. Its stdout and stderr pass through a masker that replaces each value with *** (also when a value is split across writes); on a terminal the child keeps its terminal (colours, prompts). Signals are forwarded, and egg exits with the child's exit code.";
  static override examples = [
    '<%= config.bin %> run -- npm start',
    '<%= config.bin %> run -n acme/web/prod -- sh -c \'deploy --token "$DEPLOY_TOKEN"\'',
    '<%= config.bin %> run --only DB_URL -- psql "$DB_URL"',
  ];
  static override strict = false;
  static override flags = {
    mask: Flags.boolean({ summary: 'Mask secret values in the output.', default: true, allowNo: true }),
    only: Flags.string({ summary: 'Inject only these secrets (repeatable).', multiple: true }),
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
    const { secrets } = await this.withVault(config, (vault) => vault.pull(flags.only));
    const env: Record<string, string> = {};
    for (const secret of secrets) env[secret.name] = secret.value.toString('utf8');
    const code = await runChild({
      command,
      env: { ...process.env, ...env } as Record<string, string>,
      secrets: secrets.map((s) => s.value),
      mask: flags.mask,
    });
    for (const secret of secrets) secret.value.fill(0);
    process.exitCode = code;
  }
}
