import { Args, Flags } from '@oclif/core';
import { EggError } from '../../../src/errors.js';
import { parseTags } from '../../../src/tokens/claims.js';
import { EggCommand } from '../../base.js';

export default class TokensRevoke extends EggCommand {
  static override summary = 'Revoke tokens by id or by tag; running proxies refuse them within a second.';
  static override examples = [
    '<%= config.bin %> tokens revoke 3q2-7wZbQ0mB1cXyT4uVnA',
    '<%= config.bin %> tokens revoke --tag run=1234',
  ];
  static override strict = false;
  static override enableJsonFlag = true;
  static override args = { ids: Args.string({ description: 'Token ids (see `egg tokens list`).' }) };
  static override flags = {
    tag: Flags.string({
      summary: 'Revoke every token with this key=value tag; repeat to require several.',
      multiple: true,
    }),
  };

  async run() {
    const { openTokens } = await import('../../../src/tokens/open.js');
    const { argv, flags } = await this.parse(TokensRevoke);
    const ids = argv as string[];
    const tags = parseTags(flags.tag ?? []);
    if (ids.length === 0 && Object.keys(tags).length === 0) {
      throw new EggError('ERR_USAGE', 'name the tokens to revoke', {
        hint: 'give token ids, or --tag key=value',
      });
    }
    const config = this.eggConfig(flags);
    const { tokens, close } = await openTokens(config, { logger: this.logger });
    try {
      const result = await tokens.revoke(ids, tags);
      if (result.revoked.length === 0) this.log('No tokens matched.');
      else
        this.log(
          `Revoked ${result.revoked.length} token${result.revoked.length === 1 ? '' : 's'}: ${result.revoked.join(' ')}`,
        );
      if (result.unknown.length > 0) {
        process.stderr.write(
          `Warning: not minted in ${config.namespace}, revoked anyway: ${result.unknown.join(' ')}\n`,
        );
      }
      return { namespace: config.namespace, ...result };
    } finally {
      await close();
    }
  }
}
