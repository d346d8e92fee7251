import { Args } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class SecretsRm extends EggCommand {
  static override summary = 'Delete secrets.';
  static override examples = ['<%= config.bin %> secrets rm OLD_TOKEN', '<%= config.bin %> secrets rm A B C'];
  static override enableJsonFlag = true;
  static override strict = false;
  static override args = {
    name: Args.string({ ignoreStdin: true, description: 'Secret names to delete.', required: true }),
  };

  async run() {
    const { argv, flags } = await this.parse(SecretsRm);
    const config = this.eggConfig(flags);
    const names = argv as string[];
    await this.withSecrets(config, async (vault) => {
      for (const name of names) {
        await vault.remove(name);
        this.log(`Removed ${name} from ${config.namespace}.`);
      }
    });
    return { namespace: config.namespace, removed: names };
  }
}
