/**
 * Request-log lines written in batches: stdout to a pipe or file is synchronous in Node on
 * Linux, so one write per request would put a syscall (and, with a slow reader, a stall) on
 * every request. Lines collect for up to `maxDelayMs` (default 20 ms) or 64 KiB and go out
 * in one write: at a thousand requests a second that is one write for some twenty lines,
 * where flushing every event-loop turn still wrote every second or third request.
 * `flush()` on shutdown.
 */
export interface LineWriter {
  write(line: string): void;
  flush(): void;
}

export interface LineWriterOptions {
  maxBytes?: number;
  maxDelayMs?: number;
}

export function batchedLineWriter(
  sink: (chunk: string) => void,
  { maxBytes = 64 * 1024, maxDelayMs = 20 }: LineWriterOptions = {},
): LineWriter {
  let pending: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    size = 0;
    sink(chunk);
  };
  return {
    write(line) {
      pending.push(line);
      size += line.length;
      if (size >= maxBytes) flush();
      // Unref'd: lines waiting never keep the process alive; shutdown calls flush().
      else timer ??= setTimeout(flush, maxDelayMs).unref();
    },
    flush,
  };
}
