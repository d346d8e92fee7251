import { EggCommand } from '../base.js';
import { table } from './secrets/list.js';

export default class Namespaces extends EggCommand {
  static override summary = 'List the namespaces you can see, with how many secrets each holds.';
  static override description =
    'A namespace exists once something was stored in it, and stays when its last secret is removed. On aws this scans the table, which a role confined to its namespaces may not do: then it says so.';
  static override examples = [
    '<%= config.bin %> namespaces',
    '<%= config.bin %> namespaces --json --backend aws',
  ];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(Namespaces);
    const config = this.eggConfig(flags);
    const namespaces = await this.withBackend(config, (backend) => backend.store.listNamespaces());
    if (namespaces.length === 0) this.log('No namespaces yet. Store a secret with `egg secrets set NAME`.');
    else
      this.log(
        table(
          ['NAMESPACE', 'SECRETS'],
          namespaces.map((n) => [n.namespace, String(n.secrets)]),
        ),
      );
    return namespaces;
  }
}
