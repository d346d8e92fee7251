import { Args, Flags } from '@oclif/core';
import { EggError, errorLabel } from '../../../src/errors.js';
import { parseTtl } from '../../../src/tokens/claims.js';
import type { TokenUsageReport } from '../../../src/tokens/tokens.js';
import { watchUsage } from '../../../src/tokens/usage-watch.js';
import { EggCommand } from '../../base.js';
import { table } from '../secrets/list.js';

/** A duration flag as seconds, or ERR_USAGE naming the flag. */
function seconds(flag: string, value: string): number {
  try {
    return parseTtl(value);
  } catch {
    throw new EggError(
      'ERR_USAGE',
      `--${flag} ${JSON.stringify(value)} is not a duration between 1s and 24h`,
      {
        hint: 'use a number with s, m or h, e.g. 90s, 15m, 1h',
      },
    );
  }
}

/** Rows a text takes on a terminal `columns` wide (long lines wrap). */
function rows(text: string, columns: number): number {
  return text
    .split('\n')
    .slice(0, -1)
    .reduce((sum, line) => sum + Math.max(1, Math.ceil(line.length / columns)), 0);
}

export default class TokensUsage extends EggCommand {
  static override summary = 'Show what each token was used for: requests, refusals, spend, bytes, throttles.';
  static override description =
    'Counted by every running proxy and written once a second, so the figures are at most a few seconds old. Windows are a minute long; --since goes back at most 24h. With --watch the figures refresh every --interval until Ctrl-C (or SIGTERM): in place on a terminal, as lines when stdout is not one, as one JSON object a line with --json.';
  static override examples = [
    '<%= config.bin %> tokens usage',
    '<%= config.bin %> tokens usage 3q2-7wZbQ0mB1cXyT4uVnA --since 15m --json',
    '<%= config.bin %> tokens usage --watch --since 5m',
  ];
  static override strict = false;
  static override enableJsonFlag = true;
  static override args = {
    ids: Args.string({ description: 'Token ids (default: every token with usage).' }),
  };
  static override flags = {
    since: Flags.string({ summary: 'How far back: 90s, 15m, 1h (at most 24h).', default: '1h' }),
    watch: Flags.boolean({ summary: 'Refresh until Ctrl-C.', default: false }),
    interval: Flags.string({ summary: 'With --watch, how often to refresh: 2s, 10s, 1m.', default: '2s' }),
  };

  async run() {
    const { argv, flags } = await this.parse(TokensUsage);
    const since = seconds('since', flags.since);
    const interval = seconds('interval', flags.interval);
    const config = this.eggConfig(flags);
    const render = (report: TokenUsageReport) =>
      report.tokens.length === 0
        ? `No token usage in ${config.namespace} in the last ${flags.since}.`
        : table(
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
            report.tokens.map((t) => [
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
              t.throttle === undefined ? '' : `${t.throttle.rule} until ${t.throttle.until}`,
            ]),
          );
    return this.withTokens(config, async (tokens) => {
      const read = () => tokens.usage(argv as string[], since);
      if (!flags.watch) {
        const report = await read();
        this.log(render(report));
        return report;
      }
      await this.#watch(read, interval, (report) => {
        const header = `Usage in ${config.namespace}, last ${flags.since}, at ${report.at} (every ${flags.interval}; Ctrl-C to stop)`;
        return `${header}\n\n${render(report)}\n`;
      });
      return undefined;
    });
  }

  /**
   * Refresh until SIGINT or SIGTERM: a frame redrawn over the last one on a terminal (cursor up,
   * clear down), frames one after another otherwise, a JSON line each with --json.
   */
  async #watch(
    read: () => Promise<TokenUsageReport>,
    interval: number,
    frame: (report: TokenUsageReport) => string,
  ) {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const json = this.jsonEnabled();
    const terminal = !json && process.stdout.isTTY === true;
    let drawn = 0;
    try {
      await watchUsage({
        read,
        intervalMs: interval * 1000,
        signal: stop.signal,
        onReport: (report) => {
          if (json) return void process.stdout.write(`${JSON.stringify(report)}\n`);
          const text = frame(report);
          if (!terminal) return void process.stdout.write(`${text}\n`);
          // Up to the first row of the last frame, clear to the end of the screen, draw.
          process.stdout.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[0J` : ''}${text}`);
          drawn = rows(text, process.stdout.columns || 80);
        },
        onError: (error) => this.logger.warn('usage.read-failed', { error: errorLabel(error) }),
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
