import { Args, Flags } from '@oclif/core';
import { tokensOn, usageOn } from '../../../src/backends/open-backend.js';
import { decimal } from '../../../src/tokens/price.js';
import { EggError } from '../../../src/errors.js';
import { parseTtl } from '../../../src/tokens/claims.js';
import { sumUsage, throttleShown } from '../../../src/tokens/usage-store.js';
import { EggCommand } from '../../base.js';
import { table } from '../secrets/list.js';

export default class TokensUsage extends EggCommand {
  static override summary = 'Show what each token was used for: requests, refusals, spend, bytes, throttles.';
  static override description =
    'Counted by every running proxy and written once a second, so the figures are at most a few seconds old. Windows are a minute long; --since goes back at most 24h.';
  static override examples = [
    '<%= config.bin %> tokens usage',
    '<%= config.bin %> tokens usage 3q2-7wZbQ0mB1cXyT4uVnA --since 15m --json',
  ];
  static override strict = false;
  static override enableJsonFlag = true;
  static override args = {
    ids: Args.string({ description: 'Token ids (default: every token with usage).' }),
  };
  static override flags = {
    since: Flags.string({ summary: 'How far back: 90s, 15m, 1h (at most 24h).', default: '1h' }),
  };

  async run() {
    const { argv, flags } = await this.parse(TokensUsage);
    let seconds: number;
    try {
      seconds = parseTtl(flags.since);
    } catch {
      throw new EggError(
        'ERR_USAGE',
        `--since ${JSON.stringify(flags.since)} is not a duration between 1s and 24h`,
        {
          hint: 'use a number with s, m or h, e.g. 90s, 15m, 1h',
        },
      );
    }
    const config = this.eggConfig(flags);
    return this.withBackend(config, async (backend) => {
      const store = await usageOn(backend);
      const now = Math.floor(Date.now() / 1000);
      const sums = sumUsage(await store.readUsage(config.namespace, argv as string[], now - seconds));
      const throttles = await store.throttles(config.namespace);
      // Tokens of a priced key spend micro-units (docs/spend.md): shown in the unit.
      const listed = await (await tokensOn(backend, config.namespace)).list();
      const priced = new Set(listed.filter((t) => t.priced).map((t) => t.id));
      const tokens = [...sums].map(([id, counts]) => ({
        id,
        ...counts,
        ...(priced.has(id) ? { priced: true as const, spendUnits: decimal(counts.spend) } : {}),
        ...throttleShown(throttles.get(id), now),
      }));
      if (tokens.length === 0) this.log(`No token usage in ${config.namespace} in the last ${flags.since}.`);
      else
        this.log(
          table(
            [
              'ID',
              'REQUESTS',
              '4XX',
              '5XX',
              'REFUSED-ORIGIN',
              'INVALID',
              'RATE-LIMITED',
              'SPEND',
              'BYTES-IN',
              'BYTES-OUT',
              'THROTTLED',
            ],
            tokens.map((t) => [
              t.id,
              String(t.requests),
              String(t.clientErrors),
              String(t.serverErrors),
              String(t.refusedOrigin),
              String(t.invalidToken),
              String(t.rateLimited + t.throttled),
              'spendUnits' in t ? `${t.spendUnits} units` : String(t.spend),
              String(t.bytesIn),
              String(t.bytesOut),
              'throttle' in t ? `${t.throttle.rule} until ${t.throttle.until}` : '',
            ]),
          ),
        );
      return { namespace: config.namespace, since: new Date((now - seconds) * 1000).toISOString(), tokens };
    });
  }
}
