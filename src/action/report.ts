/**
 * How the Action speaks at its edge: the one failure message (`core.setFailed`), and the
 * library's structured logger mapped onto the runner's log (ids, names and counts only).
 */
import { EggError } from '../errors.js';
import type { LogFields, Logger } from '../log.js';
import type { Runner } from './runner.js';

/** The message for `setFailed`: an EggError's message and next step; anything else by name only. */
export function failureMessage(error: unknown): string {
  if (error instanceof EggError) {
    const text = error.message.endsWith('.') ? error.message : `${error.message}.`;
    return error.hint === undefined ? text : `${text}\n${capitalise(error.hint)}.`;
  }
  // A system error's message names the call and the path, never data.
  if (error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string')
    return error.message;
  // Any other unexpected error's message might quote anything it was given; show only what it is.
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  return `unexpected ${name}${typeof code === 'string' ? ` (${code})` : ''}; re-run with debug logging (RUNNER_DEBUG=1) to see where it happened.`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The library's logger on the runner: debug lines only when step debugging is on. */
export function runnerLogger(runner: Runner): Logger {
  const line = (event: string, fields: LogFields | undefined) =>
    fields === undefined ? event : `${event} ${JSON.stringify(fields)}`;
  return {
    debug: (event, fields) => {
      if (runner.isDebug()) runner.debug(line(event, fields));
    },
    info: (event, fields) => runner.info(line(event, fields)),
    warn: (event, fields) => runner.warning(line(event, fields)),
  };
}
