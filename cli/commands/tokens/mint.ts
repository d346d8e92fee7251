import { Flags } from '@oclif/core';
import { parseTags, parseTtl } from '../../../src/tokens/claims.js';
import { EggCommand } from '../../base.js';

export default class TokensMint extends EggCommand {
  static override summary = 'Mint a short-lived, origin-bound token for a provider key.';
  static override description =
    'The key must have been stored with --upstream. The token works only through `egg proxy serve`, within its rate and spend caps, until it expires or is revoked, and only from the given origins: a request must carry an Origin header that is one of them (scheme and host compared ASCII case-insensitively, the port exactly). A token for a native app (which sends no Origin) needs --allow-no-origin; it relies on its caps, since any non-browser client can omit or forge Origin. It is printed once and never stored.';
  static override examples = [
    '<%= config.bin %> tokens mint --key OPENAI_KEY --origin https://app.example.com --ttl 1h --rps 5 --spend 1000',
    '<%= config.bin %> tokens mint --key OPENAI_KEY --origin https://a.example.com --origin http://localhost:5173 --ttl 15m --rps 2 --burst 10 --spend 500 --cost 5 --tag run=1234 --json',
    '<%= config.bin %> tokens mint --key OPENAI_KEY --allow-no-origin --ttl 1h --rps 1 --spend 100',
    '<%= config.bin %> tokens mint --key OPENAI_KEY --allow-no-origin --ttl 1h --rps 20 --spend 1000 --max-clients 3 --client-rps 2',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    key: Flags.string({ summary: 'The provider key (a secret stored with --upstream).', required: true }),
    origin: Flags.string({
      summary: 'An allowed origin, scheme://host[:port]; repeat for more. Required unless --allow-no-origin.',
      multiple: true,
    }),
    'allow-no-origin': Flags.boolean({
      summary:
        'Also accept requests with no Origin header (native apps); such use is bounded only by the caps.',
      default: false,
    }),
    ttl: Flags.string({ summary: 'Lifetime: 90s, 15m, 1h (at most 24h).', default: '1h' }),
    rps: Flags.integer({ summary: 'Sustained requests per second (per proxy).', required: true, min: 1 }),
    burst: Flags.integer({ summary: 'Requests allowed in a burst. Default: --rps.', min: 1 }),
    spend: Flags.integer({
      summary: 'Spend cap in cost units, shared by every proxy.',
      required: true,
      min: 1,
    }),
    cost: Flags.integer({ summary: 'Cost units of one request.', default: 1, min: 1 }),
    'max-clients': Flags.integer({
      summary:
        'Distinct client addresses allowed in a minute, across every proxy; a new one past it gets 429 and alerts. Default: no limit.',
      min: 1,
    }),
    'client-rps': Flags.integer({
      summary: 'Sustained requests per second from one client address (per proxy). Default: no limit.',
      min: 1,
    }),
    tag: Flags.string({ summary: 'A key=value tag (revoke by it later); repeatable.', multiple: true }),
  };

  async run() {
    const { flags } = await this.parse(TokensMint);
    const config = this.eggConfig(flags);
    const ttlSeconds = parseTtl(flags.ttl);
    const tags = parseTags(flags.tag ?? []);
    return this.withTokens(config, async (tokens) => {
      const minted = await tokens.mint({
        key: flags.key,
        origins: flags.origin ?? [],
        allowNoOrigin: flags['allow-no-origin'],
        ttlSeconds,
        rps: flags.rps,
        ...(flags.burst === undefined ? {} : { burst: flags.burst }),
        spend: flags.spend,
        cost: flags.cost,
        ...(flags['max-clients'] === undefined ? {} : { maxClients: flags['max-clients'] }),
        ...(flags['client-rps'] === undefined ? {} : { clientRps: flags['client-rps'] }),
        tags,
      });
      this.log(minted.token);
      process.stderr.write(`Token ${minted.id} for ${flags.key}, valid until ${minted.expiresAt}.\n`);
      return { token: minted.token, id: minted.id, expiresAt: minted.expiresAt, claims: minted.claims };
    });
  }
}
