import { Args, Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class SecretsRollback extends EggCommand {
  static override summary = 'Make an earlier version of a secret the current one again, as a new rev.';
  static override description =
    'The value of rev N is written as the next rev under a fresh data key; the value it replaces is kept as a version, like any set. Audited as `rollback NAME@N`.';
  static override examples = ['<%= config.bin %> secrets rollback DB_PASSWORD --to 3'];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({ ignoreStdin: true, description: 'Secret name.', required: true }),
  };
  static override flags = {
    to: Flags.integer({
      description: 'The rev to bring back (see `egg secrets history NAME`).',
      required: true,
      min: 1,
    }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsRollback);
    const config = this.eggConfig(flags);
    const meta = await this.withSecrets(config, (vault) => vault.rollback(args.name, flags.to));
    this.log(`Rolled ${args.name} in ${config.namespace} back to rev ${flags.to}, as rev ${meta.rev}.`);
    return { name: args.name, namespace: config.namespace, from: flags.to, rev: meta.rev };
  }
}
