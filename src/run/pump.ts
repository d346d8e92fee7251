/**
 * One output of `egg run`'s child copied to egg's own, through a `SecretMasker`: with
 * backpressure, and closing the child's side when the reader goes away, as a direct pipe would.
 */
import type { Readable, Writable } from 'node:stream';
import { type MaskSet, SecretMasker } from './mask.js';

/**
 * How many bytes may wait in `to`'s buffer before the child's stream is paused. A Writable's
 * own mark (16 KiB for egg's stdout) is less than one read from the child (64 KiB), so pausing
 * at it stopped the copy at nearly every chunk whenever the reader was a moment behind, and
 * the child, egg and the reader took turns instead of running at once. Memory stays bounded.
 */
export const QUEUED_BYTES = 1024 * 1024;

/** Copy `from` to `to` through a masker of `set` (if any), with backpressure; never ends `to`. */
export function pump(from: Readable, to: NodeJS.WritableStream, set: MaskSet | undefined): Promise<void> {
  const masker = set === undefined ? undefined : new SecretMasker(set);
  const sink = to as Writable;
  return new Promise((done) => {
    let broken = false;
    const onSinkError = () => {
      // The reader went away (EPIPE): close the child's pipe too, so the child sees the
      // same EPIPE / SIGPIPE it would have seen writing there itself.
      broken = true;
      from.destroy();
    };
    sink.on('error', onSinkError);
    const write = (pieces: Buffer[]): boolean => {
      if (broken || pieces.length === 0) return true;
      if (pieces.length > 1) sink.cork();
      let ok = true;
      for (const piece of pieces) ok = sink.write(piece);
      if (pieces.length > 1) sink.uncork();
      return ok;
    };
    // What the reads of one turn of the event loop produced, written in one go when they are
    // done (setImmediate runs right after them): a child that is ahead of egg is read several
    // times a turn, and one write then wakes the reader once, not once a read.
    let pending: Buffer[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const pieces = pending;
      pending = [];
      const ok = write(pieces);
      // A sink without `writableLength` is paused at its own mark, as before.
      if (!ok && (sink.writableLength ?? QUEUED_BYTES) >= QUEUED_BYTES && !from.isPaused()) {
        from.pause();
        sink.once('drain', () => from.resume());
      }
    };
    from.on('data', (chunk: Buffer) => {
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      if (masker === undefined) pending.push(chunk);
      else for (const piece of masker.pushPieces(chunk)) pending.push(piece);
    });
    const finish = () => {
      write(pending);
      pending = [];
      if (masker !== undefined) write(masker.endPieces());
      sink.off('error', onSinkError);
      done();
    };
    from.once('end', finish);
    from.once('error', () => {});
    from.once('close', () => {
      if (from.readableEnded) return;
      finish();
    });
  });
}
