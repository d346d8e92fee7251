/**
 * The post step's job summary of the tokens the job minted (issue 10): what each was used
 * for, read just before they are revoked. Ids, key names and counts only: never a token.
 */
import type { TokenListEntry } from '../tokens/tokens.js';
import type { UsageReport } from '../tokens/usage-store.js';

/**
 * What the summary needs of a token (as `Tokens.list` gives it): its key, its cap and what it
 * has spent, and for a priced key both in the price's unit (`spentUnits`, `spendUnits`).
 */
export type MintedRecord = Pick<
  TokenListEntry,
  'id' | 'key' | 'spend' | 'spent' | 'spentUnits' | 'spendUnits'
>;

/** Spend against the cap as `egg tokens list` shows it: in the price's unit for a priced key. */
function spendShown(r: MintedRecord): string {
  return r.spentUnits !== undefined && r.spendUnits !== undefined
    ? `${r.spentUnits} / ${r.spendUnits} units`
    : `${r.spent} / ${r.spend}`;
}

/**
 * The markdown table: one row per id the job minted, in the order minted, with requests (all,
 * 4xx, 5xx), spend against the cap, refused origins, invalid-token attempts naming the id,
 * and requests refused for rate (its own limit, or a throttle an anomaly rule set).
 */
export function usageSummary(
  namespace: string,
  ids: readonly string[],
  records: readonly MintedRecord[],
  report: UsageReport,
): string {
  const byId = new Map(records.map((r) => [r.id, r]));
  const usage = new Map(report.tokens.map((t) => [t.id, t]));
  const rows = ids.map((id) => {
    const record = byId.get(id);
    const t = usage.get(id);
    const spend = record === undefined ? `${t?.spend ?? 0} / ?` : spendShown(record);
    const throttled =
      t === undefined
        ? '0'
        : `${t.rateLimited + t.throttled}${t.throttle === undefined ? '' : ` (throttled: ${t.throttle.rule})`}`;
    return `| \`${id}\` | ${record === undefined ? '?' : `\`${record.key}\``} | ${t?.requests ?? 0} | ${t?.clientErrors ?? 0} | ${t?.serverErrors ?? 0} | ${spend} | ${t?.refusedOrigin ?? 0} | ${t?.invalidToken ?? 0} | ${throttled} |`;
  });
  return [
    `### Token usage in \`${namespace}\``,
    '',
    `As counted by the proxies up to ${report.at}, before the post step revoked the tokens.`,
    '',
    '| Token id | Key | Requests | 4xx | 5xx | Spend / cap | Refused origins | Invalid-token attempts | Rate-limited or throttled |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    '',
  ].join('\n');
}
