/**
 * A line diff for showing what `egg ci init` would change in a small file: the longest
 * common subsequence of lines, printed as ` `/`-`/`+` lines with `context` unchanged lines
 * around each change and `…` for the rest. Quadratic, which is fine for a workflow file.
 */

/** The lines of `after` against `before`, each prefixed with ` `, `-` or `+`. */
export function lineDiff(before: string, after: string, context = 3): string[] {
  const a = splitLines(before);
  const b = splitLines(after);
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] =
        a[i] === b[j]
          ? ((lcs[i + 1] as number[])[j + 1] as number) + 1
          : Math.max((lcs[i + 1] as number[])[j] as number, row[j + 1] as number);
    }
  }
  const ops: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (
      i < a.length &&
      (j === b.length || ((lcs[i + 1] as number[])[j] as number) >= ((lcs[i] as number[])[j + 1] as number))
    ) {
      ops.push(`- ${a[i]}`);
      i++;
    } else {
      ops.push(`+ ${b[j]}`);
      j++;
    }
  }
  // Keep `context` unchanged lines on each side of a change.
  const changed = ops.map((op) => !op.startsWith('  '));
  const keep = ops.map((_, k) => {
    for (let d = -context; d <= context; d++) if (changed[k + d]) return true;
    return false;
  });
  const out: string[] = [];
  for (let k = 0; k < ops.length; k++) {
    if (keep[k]) out.push(ops[k] as string);
    else if (out.at(-1) !== '  …') out.push('  …');
  }
  return out;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
