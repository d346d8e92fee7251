import { Args } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class TokensUnthrottle extends EggCommand {
  static override summary =
    'Lift the throttle an anomaly rule set on tokens; running proxies lift it within a second.';
  static override description =
    'A throttle ends on its own (15 minutes after it was set); this ends it now, once you know the use was yours. If the token leaked, revoke it instead (egg tokens revoke). See docs/alerts.md.';
  static override examples = ['<%= config.bin %> tokens unthrottle 3q2-7wZbQ0mB1cXyT4uVnA'];
  static override strict = false;
  static override enableJsonFlag = true;
  static override args = {
    ids: Args.string({ description: 'Token ids (see `egg tokens usage`).', required: true }),
  };

  async run() {
    const { argv, flags } = await this.parse(TokensUnthrottle);
    const config = this.eggConfig(flags);
    return this.withTokens(config, async (tokens) => {
      const lifted = await tokens.unthrottle(argv as string[]);
      this.log(
        lifted.length === 0 ? 'No throttled tokens matched.' : `Lifted the throttle of ${lifted.join(' ')}`,
      );
      return { namespace: config.namespace, lifted };
    });
  }
}
