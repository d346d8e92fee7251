/**
 * Request-log lines written in batches: stdout to a pipe or file is synchronous in Node on
 * Linux, so one write per request would put a syscall (and, with a slow reader, a stall) on
 * every request. Lines collect for one turn of the event loop (or up to 64 KiB) and go out
 * in one write. `flush()` on shutdown.
 */
export interface LineWriter {
  write(line: string): void;
  flush(): void;
}

export function batchedLineWriter(sink: (chunk: string) => void, maxBytes = 64 * 1024): LineWriter {
  let pending: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
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
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
