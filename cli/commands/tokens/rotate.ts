import { Args, Flags } from '@oclif/core';
import { parseDuration } from '../../../src/tokens/claims.js';
import { EggCommand } from '../../base.js';

export default class TokensRotate extends EggCommand {
  static override summary =
    'Mint a successor to a token, with the same claims, and revoke the old one after a grace.';
  static override description =
    "The successor has the same key, origins, caps and tags, a fresh spend counter, and the old token's full lifetime from now. It works at once. The old token keeps working for --grace (default 5m; 0 stops it at once), then every running proxy refuses it by its own clock: nothing has to keep running for that. The new token is printed once, on stdout, and never stored.";
  static override examples = [
    '<%= config.bin %> tokens rotate 3q2-7wZbQ0mB1cXyT4uVnA',
    '<%= config.bin %> tokens rotate 3q2-7wZbQ0mB1cXyT4uVnA --grace 0 --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    id: Args.string({ description: 'The token id (see `egg tokens list`).', required: true }),
  };
  static override flags = {
    grace: Flags.string({
      summary: 'How long the old token keeps working: 0, 90s, 5m, 1h (at most 24h).',
      default: '5m',
    }),
  };

  async run() {
    const { args, flags } = await this.parse(TokensRotate);
    const config = this.eggConfig(flags);
    const grace = parseDuration(flags.grace, '--grace', 0);
    return this.withTokens(config, async (tokens) => {
      const rotated = await tokens.rotate(args.id, grace);
      const { successor } = rotated;
      this.log(successor.token);
      process.stderr.write(
        `Token ${successor.id} replaces ${rotated.id}, valid until ${successor.expiresAt}; ${rotated.id} ${grace === 0 ? 'stopped' : 'stops'} at ${rotated.stopsAt}.\n`,
      );
      return {
        token: successor.token,
        id: successor.id,
        expiresAt: successor.expiresAt,
        claims: successor.claims,
        replaces: rotated.id,
        stopsAt: rotated.stopsAt,
      };
    });
  }
}
