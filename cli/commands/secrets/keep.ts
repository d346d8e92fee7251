import { Args } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class SecretsKeep extends EggCommand {
  static override summary = 'Show or set how many earlier versions of each secret the namespace keeps.';
  static override description =
    '10 unless set, at most 50; 0 keeps none. Each secret deletes the versions past the count at its next set, so nothing older stays recoverable. Setting it is audited; with the api backend it needs the admin role.';
  static override examples = [
    '<%= config.bin %> secrets keep',
    '<%= config.bin %> secrets keep 3 -n acme/web/prod',
  ];
  static override enableJsonFlag = true;
  static override args = {
    count: Args.integer({ ignoreStdin: true, description: 'Versions to keep (0 to 50).' }),
  };

  async run() {
    const { args, flags } = await this.parse(SecretsKeep);
    const config = this.eggConfig(flags);
    const kept = await this.withSecrets(config, async (vault) => {
      if (args.count !== undefined) await vault.setVersionsKept(args.count);
      return vault.versionsKept();
    });
    this.log(
      `${config.namespace} keeps ${kept} earlier ${kept === 1 ? 'version' : 'versions'} of each secret.`,
    );
    return { namespace: config.namespace, versionsKept: kept };
  }
}
