/**
 * The mutation score of each security module (issue 17), from the report of the last
 * `npm run mutate` (running Stryker here would take the bench's whole budget; its incremental
 * mode keeps that report current at little cost).
 */
import { existsSync, statSync } from 'node:fs';
import { DEFAULT_REPORT, fileScores, formatScore } from '../scripts/mutation-score.js';

/** Bench rows: one a file, `≥ 90 %` the target. */
export function benchMutation(report = DEFAULT_REPORT): [string, string, string][] {
  if (!existsSync(report))
    return [['mutation scores', 'not measured: run `npm run mutate` first', '≥ 90 % a file']];
  const when = statSync(report).mtime.toISOString().slice(0, 16).replace('T', ' ');
  return fileScores(report).map((s) => [
    `mutation score, ${s.file}`,
    `${formatScore(s.score)} (${s.killed + s.timedOut} of ${s.mutants} mutants caught; run of ${when} UTC)`,
    '≥ 90 %',
  ]);
}
