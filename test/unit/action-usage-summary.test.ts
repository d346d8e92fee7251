/**
 * The post step's job summary (src/action/usage-summary.ts): spend against the cap as
 * `egg tokens list` shows it, in the price's unit for a priced key's token (micro-units
 * counted, units shown), as counted for any other.
 */
import { describe, expect, it } from 'vitest';
import { usageSummary } from '../../src/action/usage-summary.js';
import { emptyCounts, type UsageReport } from '../../src/tokens/usage-store.js';

const AT = '2026-12-03T20:00:00.000Z';
const PRICED = 'AAAAAAAAAAAAAAAAAAAAAA';
const PLAIN = 'BBBBBBBBBBBBBBBBBBBBBB';
const GONE = 'CCCCCCCCCCCCCCCCCCCCCC';

const report: UsageReport = {
  namespace: 'acme/web',
  since: '2026-12-02T20:00:00.000Z',
  at: AT,
  tokens: [
    { id: PRICED, ...emptyCounts(), requests: 4, spend: 2_500_000 },
    { id: PLAIN, ...emptyCounts(), requests: 2, spend: 10 },
    { id: GONE, ...emptyCounts(), requests: 1, spend: 7 },
  ],
};

describe('the job summary of the tokens a job minted', () => {
  it('shows a priced key’s spend in units, and other spend as counted', () => {
    const text = usageSummary(
      'acme/web',
      [PRICED, PLAIN, GONE],
      [
        {
          id: PRICED,
          key: 'OPENAI_KEY',
          spend: 12_000_000,
          spent: 2_500_000,
          spentUnits: '2.5',
          spendUnits: '12',
        },
        { id: PLAIN, key: 'OTHER_KEY', spend: 50, spent: 10 },
      ],
      report,
    );
    const rows = text.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows).toEqual([
      `| \`${PRICED}\` | \`OPENAI_KEY\` | 4 | 0 | 0 | 2.5 / 12 units | 0 | 0 | 0 |`,
      `| \`${PLAIN}\` | \`OTHER_KEY\` | 2 | 0 | 0 | 10 / 50 | 0 | 0 | 0 |`,
      // No record (gone from the store): the counted spend, the cap unknown.
      `| \`${GONE}\` | ? | 1 | 0 | 0 | 7 / ? | 0 | 0 | 0 |`,
    ]);
    expect(text).not.toContain('2500000');
  });
});
