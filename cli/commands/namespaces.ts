import { EggCommand } from '../base.js';
import { table } from './secrets/list.js';

export default class Namespaces extends EggCommand {
  static override summary = 'List the namespaces you can see, with how many secrets each holds.';
  static override description =
    'A namespace exists once something was stored in it, and stays when its last secret is removed. On aws this scans the table, which a role confined to its namespaces may not do: then it says so. With the api backend it lists the namespaces you are a member of, with your role in each.';
  static override examples = [
    '<%= config.bin %> namespaces',
    '<%= config.bin %> namespaces --json --backend aws',
  ];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(Namespaces);
    const config = this.eggConfig(flags);
    const namespaces = await this.withSession(config, (session) => session.namespaces());
    if (namespaces.length === 0) this.log('No namespaces yet. Store a secret with `egg secrets set NAME`.');
    else if (config.backend === 'api')
      // The API lists the namespaces the caller is a member of, with its role, not their contents.
      this.log(
        table(
          ['NAMESPACE', 'ROLE'],
          namespaces.map((n) => [n.namespace, n.role ?? '']),
        ),
      );
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
