/**
 * One output of `egg run`'s child copied to egg's own, through a `SecretMasker`: with
 * backpressure, and closing the child's side when the reader goes away, as a direct pipe would.
 */
import type { Readable, Writable } from 'node:stream';
import { type MaskSet, SecretMasker } from './mask.js';

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
    from.on('data', (chunk: Buffer) => {
      if (!write(masker === undefined ? [chunk] : masker.pushPieces(chunk))) {
        from.pause();
        sink.once('drain', () => from.resume());
      }
    });
    const finish = () => {
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
