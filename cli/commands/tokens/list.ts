import { EggCommand } from '../../base.js';
import { table } from '../secrets/list.js';

export default class TokensList extends EggCommand {
  static override summary = 'List the tokens minted in a namespace (ids and caps, never the tokens).';
  static override examples = [
    '<%= config.bin %> tokens list',
    '<%= config.bin %> tokens list --json -n acme/web/prod',
  ];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(TokensList);
    const config = this.eggConfig(flags);
    return this.withTokens(config, async (tokens) => {
      const list = await tokens.list();
      if (list.length === 0) this.log(`No tokens in ${config.namespace}. Mint one with \`egg tokens mint\`.`);
      else {
        const rows = list.map((t) => [
          t.id,
          t.key,
          t.status,
          t.expiresAt,
          t.priced ? `${t.spentUnits}/${t.spendUnits} units` : `${t.spent}/${t.spend}`,
          Object.entries(t.tags)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        ]);
        this.log(table(['ID', 'KEY', 'STATUS', 'EXPIRES', 'SPENT', 'TAGS'], rows));
      }
      return list;
    });
  }
}
