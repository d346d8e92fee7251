/**
 * Structured logging. A logger takes an event name and fields that carry ids, names and
 * counts, never values. The library never logs on its own: callers pass a logger in.
 */

export type LogFields = Record<string, string | number | boolean | undefined | readonly string[]>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
}

/** A logger that drops everything; the default for library calls and tests. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
};

/** One JSON object per line to `write` (stderr by default). Debug lines only when `debug` is set. */
export function jsonLogger(
  options: { debug?: boolean; write?: (line: string) => void; now?: () => Date } = {},
): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const emit = (level: string, event: string, fields: LogFields = {}) =>
    write(`${JSON.stringify({ time: now().toISOString(), level, event, ...fields })}\n`);
  return {
    debug: (event, fields) => {
      if (options.debug) emit('debug', event, fields);
    },
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
  };
}
