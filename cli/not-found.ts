/**
 * What `egg` says to a command name it does not know: the closest command, as "did you
 * mean", and where the list is; it exits 127 (a shell's "command not found") and runs
 * nothing. @oclif/plugin-not-found names the closest command only in a prompt that runs it
 * on Enter, and names none without a terminal; egg only suggests.
 */
import { type Config, Errors, toConfiguredId } from '@oclif/core';

/** Stop with "did you mean" for `id` (oclif's form, `secrets:lsit`), which names no command. */
export function commandNotFound(config: Config, id: string): never {
  const visible = config.commands.filter((command) => !command.hidden).map((command) => command.id);
  const suggestion = closest(id, visible);
  const topic = id.split(':')[0] ?? '';
  const help = config.findTopic(topic) ? `${config.bin} help ${topic}` : `${config.bin} help`;
  const name = `${config.bin} ${toConfiguredId(id, config)}`;
  const hint =
    suggestion === undefined ? '' : ` Did you mean "${config.bin} ${toConfiguredId(suggestion, config)}"?`;
  Errors.error(`"${name}" is not a command.${hint} "${help}" lists them.`, { exit: 127 });
}

/**
 * The id nearest to `id` by edit distance, if near enough to be a typo (a third of its
 * length). Each id is set against as many words of `id` as it has: oclif's id for
 * `egg secrets rn KEY` is `secrets:rn:KEY`, and `secrets:rm` is what was meant.
 */
export function closest(id: string, ids: readonly string[]): string | undefined {
  let best: { id: string; distance: number } | undefined;
  for (const candidate of ids) {
    const typed = id.split(':').slice(0, candidate.split(':').length).join(':');
    const distance = editDistance(typed, candidate);
    if (
      distance <= Math.max(2, Math.floor(typed.length / 3)) &&
      (best === undefined || distance < best.distance)
    ) {
      best = { id: candidate, distance };
    }
  }
  return best?.id;
}

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
