/**
 * `egg run`'s copy of the child's output (src/run/pump.ts): it keeps reading the child while
 * masked output waits for a slow reader, up to `QUEUED_BYTES`, then pauses; and what it
 * writes is the child's output, masked, in order, however the reads fell.
 */
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MaskSet } from '../../src/run/mask.js';
import { pump, QUEUED_BYTES } from '../../src/run/pump.js';

const SECRET = 'pump-secret-value-0123';
const CHUNK = 64 * 1024;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A reader that takes nothing until `open()`, with egg's stdout's own 16 KiB mark. */
class StalledReader extends Writable {
  readonly received: Buffer[] = [];
  #open = false;
  #waiting: (() => void) | undefined;

  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.received.push(Buffer.from(chunk));
    if (this.#open) callback();
    else this.#waiting = callback;
  }

  open(): void {
    this.#open = true;
    this.#waiting?.();
  }
}

/** Chunk `i` of the child's output: log lines, with the secret cut across chunks 2 and 3. */
function chunk(i: number): Buffer {
  const bytes = Buffer.alloc(CHUNK, `line ${i} ok\n`);
  if (i === 2) bytes.write(SECRET.slice(0, 7), CHUNK - 7);
  if (i === 3) bytes.write(SECRET.slice(7), 0);
  return bytes;
}

describe('pump', () => {
  it('keeps reading the child past the reader’s own mark while it is behind, and pauses at QUEUED_BYTES', async () => {
    const set = new MaskSet([Buffer.from(SECRET)]);
    const child = new Readable({ read() {} });
    const reader = new StalledReader();
    const done = pump(child, reader, set);
    const sent: Buffer[] = [];
    while (!child.isPaused() && sent.length < 64) {
      sent.push(chunk(sent.length));
      child.push(sent.at(-1));
      await turn();
    }
    // Paused, but only once a mebibyte waited: not at the first chunk past 16 KiB.
    expect(child.isPaused()).toBe(true);
    expect(reader.writableLength).toBeGreaterThanOrEqual(QUEUED_BYTES);
    expect(reader.writableLength).toBeLessThanOrEqual(QUEUED_BYTES + CHUNK);
    reader.open();
    for (let i = sent.length; i < 24; i++) {
      sent.push(chunk(i));
      child.push(sent.at(-1));
    }
    child.push(null);
    await done;
    const expected = Buffer.concat(sent).toString('latin1').replace(SECRET, '***');
    expect(Buffer.concat(reader.received).toString('latin1')).toBe(expected);
    set.dispose();
  });

  it('writes what one turn of the event loop read in one go, masked and in order', async () => {
    const set = new MaskSet([Buffer.from(SECRET)]);
    const child = new Readable({ read() {} });
    const writes: string[] = [];
    const reader = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk.toString('latin1'));
        callback();
      },
      writev(chunks, callback) {
        writes.push(chunks.map(({ chunk }) => (chunk as Buffer).toString('latin1')).join(''));
        callback();
      },
    });
    const done = pump(child, reader, set);
    // Three reads in one turn, the secret cut across the last two; then one more turn.
    child.push(Buffer.from('first, '));
    child.push(Buffer.from(`then pump-secret`));
    child.push(Buffer.from(`${SECRET.slice('pump-secret'.length)}, `));
    // The reads come in the turn after pump starts the flow; the write at the end of that turn.
    await turn();
    await turn();
    child.push(Buffer.from('last'));
    child.push(null);
    await done;
    expect(writes).toEqual(['first, then ***, ', 'last']);
    set.dispose();
  });
});
