/**
 * The mutation score of each file in a Stryker JSON report (mutation-testing-report-schema),
 * as a table: `node --import ./test/support/ts-hooks.mjs scripts/mutation-score.ts [--min 90]
 * [--report FILE] [FILE…]`. With `--min`, exits 1 when a file scores below it (issue 17: at
 * least 90 % per listed file). With files named, only those are shown and checked.
 *
 * The score is Stryker's: detected (killed, timed out) over valid mutants (those plus
 * survived and not covered); compile and runtime errors and ignored mutants do not count.
 */
import { readFileSync } from 'node:fs';

export interface FileScore {
  file: string;
  mutants: number;
  killed: number;
  timedOut: number;
  survived: number;
  noCoverage: number;
  /** Percent, or NaN for a file with no valid mutant. */
  score: number;
}

interface Report {
  files: Record<string, { mutants: { status: string }[] }>;
}

export const DEFAULT_REPORT = '.cache/mutation/mutation.json';

/** The score of every file in the report at `path`, sorted by name. */
export function fileScores(path = DEFAULT_REPORT): FileScore[] {
  const report = JSON.parse(readFileSync(path, 'utf8')) as Report;
  return Object.entries(report.files)
    .map(([file, { mutants }]) => {
      const count = (status: string) => mutants.filter((m) => m.status === status).length;
      const killed = count('Killed');
      const timedOut = count('Timeout');
      const survived = count('Survived');
      const noCoverage = count('NoCoverage');
      const valid = killed + timedOut + survived + noCoverage;
      return {
        file,
        mutants: valid,
        killed,
        timedOut,
        survived,
        noCoverage,
        score: valid === 0 ? Number.NaN : ((killed + timedOut) / valid) * 100,
      };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
}

/** `97.3 %`, or `n/a` for a file without valid mutants. */
export function formatScore(score: number): string {
  return Number.isNaN(score) ? 'n/a' : `${score.toFixed(1)} %`;
}

function main(args: string[]): number {
  let min: number | undefined;
  let report = DEFAULT_REPORT;
  const only: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--min') min = Number(args[++i]);
    else if (arg === '--report') report = args[++i] as string;
    else only.push(arg);
  }
  const scores = fileScores(report).filter((s) => only.length === 0 || only.includes(s.file));
  const lines = [
    '| file | mutants | killed | timed out | survived | no coverage | score |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...scores.map(
      (s) =>
        `| \`${s.file}\` | ${s.mutants} | ${s.killed} | ${s.timedOut} | ${s.survived} | ${s.noCoverage} | ${formatScore(s.score)} |`,
    ),
  ];
  const total = scores.reduce(
    (t, s) => ({ detected: t.detected + s.killed + s.timedOut, valid: t.valid + s.mutants }),
    { detected: 0, valid: 0 },
  );
  lines.push(
    `| all | ${total.valid} | | | | | ${formatScore(total.valid === 0 ? Number.NaN : (total.detected / total.valid) * 100)} |`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (min === undefined) return 0;
  const low = scores.filter((s) => s.score < min);
  for (const s of low) process.stderr.write(`${s.file}: ${formatScore(s.score)}, below ${min} %\n`);
  return low.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
