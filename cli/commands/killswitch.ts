import { EggCommand } from '../base.js';

export default class Killswitch extends EggCommand {
  static override summary = 'Void every token of the namespace issued until now.';
  static override description =
    'Sets the namespace\'s "not before" epoch, which every running proxy sees within a second, and marks the record of every token minted until now, which every proxy refuses from its next request: a token dated ahead of the epoch (a minting host whose clock runs fast) is void too. Tokens minted afterwards work; one minted while the command runs may be void too (mint it again). If it fails part way, run it again.';
  static override examples = [
    '<%= config.bin %> killswitch -n acme/web/prod',
    '<%= config.bin %> killswitch --json',
  ];
  static override enableJsonFlag = true;

  async run() {
    const { openTokens } = await import('../../src/tokens/open.js');
    const { flags } = await this.parse(Killswitch);
    const config = this.eggConfig(flags);
    const { tokens, close } = await openTokens(config, { logger: this.logger });
    try {
      const result = await tokens.killSwitch();
      this.log(`Every token of ${config.namespace} issued before ${result.notBefore} is void.`);
      return { namespace: config.namespace, ...result };
    } finally {
      await close();
    }
  }
}
