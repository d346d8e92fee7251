import { Args } from '@oclif/core';
import { EggCommand } from '../../base.js';
import { table } from './list.js';

export default class SecretsHistory extends EggCommand {
  static override summary = "List a secret's versions: rev, time, who set it and its size, never a value.";
  static override description =
    'The namespace keeps 10 earlier versions of each secret unless `egg secrets keep` says otherwise. Read one with `egg secrets get NAME --rev N`; bring one back with `egg secrets rollback NAME --to N`.';
  static override examples = [
    '<%= config.bin %> secrets history DB_PASSWORD',
    '<%= config.bin %> secrets history DB_PASSWORD --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    name: Args.string({ ignoreStdin: true, description: 'Secret name.', required: true }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsHistory);
    const config = this.eggConfig(flags);
    const versions = await this.withSecrets(config, (vault) => vault.history(args.name));
    this.log(
      table(
        ['REV', 'TIME', 'ACTOR', 'SIZE', ''],
        versions.map((v) => [String(v.rev), v.time, v.actor, `${v.size} B`, v.current ? 'current' : '']),
      ),
    );
    return { name: args.name, namespace: config.namespace, versions };
  }
}
