import { openTokens } from '../../src/tokens/open.js';
import { EggCommand } from '../base.js';

export default class Killswitch extends EggCommand {
  static override summary = 'Void every token of the namespace issued until now.';
  static override description =
    'Sets the namespace\'s "not before" epoch: every running proxy refuses tokens issued before it within a second. Tokens minted afterwards (from the next second on) work.';
  static override examples = [
    '<%= config.bin %> killswitch -n acme/web/prod',
    '<%= config.bin %> killswitch --json',
  ];
  static override enableJsonFlag = true;

  async run() {
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
