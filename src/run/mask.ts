/**
 * Streaming secret masking for `egg run`: every occurrence of a secret value in a byte
 * stream becomes `***`, also when the child writes it in pieces.
 *
 * What is masked: each value, and each line of a multi-line value on its own (a child may
 * print one line of a PEM, and under a pseudo-terminal `\n` comes out as `\r\n`). Values and
 * lines shorter than `MIN_MASKED_BYTES` (3) are not masked, because masking `1` or `no`
 * would garble all output; `MaskSet.skipped` lists such values so the caller can warn.
 * GitHub Actions masks any registered value, however short, and its users find their logs
 * full of `***`; a warning is the better trade.
 *
 * Overlaps: every byte covered by any occurrence of any pattern is hidden, and each run of
 * overlapping occurrences becomes one `***` (with `abc` and `abcdef` secret, `abcdef` prints
 * `***`, not `***def`). The output does not depend on how the input was chunked.
 *
 * Latency: the masker holds back only what could still turn out to be a secret: the
 * longest tail that is a proper prefix of a pattern (and a masked run such a prefix could
 * extend, which prints as `***` anyway). Everything else is emitted at once, so a prompt
 * without a trailing newline appears immediately.
 *
 * Speed: Wu–Manber skipping over hashed trigrams looks at about one position in
 * (shortest pattern − 2); at a candidate, a fingerprint of the window picks out the
 * patterns it could be (secrets sharing a prefix or suffix share trigrams), and
 * `Buffer.compare` (memcmp) confirms those. Patterns too short to be worth a window get a
 * native `indexOf` pass each. A chunk with nothing to hide is passed on as the same
 * buffer (and one with something as views of it around each `***`: copying it into one
 * buffer measured slower in `egg run`). Prefixes cut by a chunk boundary are carried as
 * partial matches, so nothing is scanned twice. With 100 secrets of 20+ bytes (and their
 * encoded forms) in log-like output this runs at about 1 GB/s on a loaded 2-core machine
 * (100 secrets of 4 bytes: about 0.1 GB/s); the worst case (a repetitive secret in
 * repetitive output) is O(bytes × pattern length).
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Values (and lines of values) shorter than this many bytes are not masked. */
export const MIN_MASKED_BYTES = 3;

const REPLACEMENT = Buffer.from('***');
const CR = 0x0d;
const LF = 0x0a;

export interface MaskOptions {
  /** Shortest value or line, in bytes, that is masked; at least 2 (default `MIN_MASKED_BYTES`). */
  minLength?: number;
}

/**
 * The patterns to mask, compiled once and shared by any number of maskers (stdout and
 * stderr each get one). It holds copies of the values: call `dispose()` to wipe them.
 */
export class MaskSet {
  /** Indexes (into the values given) of non-empty values too short to be masked. */
  readonly skipped: readonly number[];
  /** How many distinct patterns (values and lines) are masked. */
  readonly size: number;

  constructor(values: readonly Uint8Array[], options: MaskOptions = {}) {
    const minLength = options.minLength ?? MIN_MASKED_BYTES;
    if (!Number.isInteger(minLength) || minLength < 2) {
      throw new TypeError('minLength must be an integer of at least 2');
    }
    const skipped: number[] = [];
    const found: Uint8Array[] = [];
    values.forEach((value, index) => {
      if (value.length === 0) return;
      if (value.length < minLength) {
        skipped.push(index);
        return;
      }
      found.push(value);
      for (const line of lines(value)) if (line.length >= minLength) found.push(line);
    });
    const index = compile(dedupe(found));
    indexes.set(this, index);
    this.skipped = skipped;
    this.size = index.patterns.length;
  }

  /** Wipe the copies of the values; maskers using this set must not be used afterwards. */
  dispose(): void {
    indexOf(this).store.fill(0);
  }
}

/**
 * Patterns are found by Wu–Manber skipping (Wu and Manber, "A fast algorithm for
 * multi-pattern searching", 1994) over windows as long as the shortest of them, so one
 * short pattern would slow down the search for all the others; patterns shorter than
 * the chosen window get their own `Buffer.indexOf` pass instead (native, but one pass
 * each). `chooseWindow` weighs the two with costs measured on Node 24.
 */
const WINDOW_CAP = 64;
/** Wu–Manber block size: a hashed trigram (the paper suggests log_c(2·M·m)). */
const BLOCK = 3;
/** Relative cost of one Wu–Manber step, and of one `indexOf` pass per byte. */
const STEP_COST = 16;
const PASS_COST = 0.5;

/** The compiled patterns, kept out of `MaskSet`'s public surface. */
interface MaskIndex {
  /** Pattern bytes, stored back to back (the only copy, wiped by `dispose`). */
  store: Buffer;
  /** Each pattern's view into `store`. */
  patterns: Buffer[];
  /** Patterns shorter than `window`, searched with `indexOf`. */
  short: number[];
  /** Wu–Manber window (a prefix length of every pattern it searches for), or 0 for none. */
  window: number;
  /** Wu–Manber shift per hashed trigram ending the window. */
  shift: Uint8Array;
  /** Long patterns by the hash of the trigram that ends their window-long prefix. */
  byHash: (number[] | undefined)[];
  /**
   * Each long pattern's `fingerprint` of its window-long prefix: patterns that share a
   * trigram (secrets often share a prefix or a suffix) are told apart without a compare each.
   */
  fingerprints: Int32Array;
  /** Patterns by their first two bytes, for prefixes cut by a chunk's end. */
  byBigram: (number[] | undefined)[];
  /** Patterns by their first byte (for a chunk's last byte). */
  byFirstByte: (number[] | undefined)[];
  /** How far from a chunk's end a cut prefix may start without the scan seeing it. */
  tail: number;
}

const indexes = new WeakMap<MaskSet, MaskIndex>();

function indexOf(set: MaskSet): MaskIndex {
  return indexes.get(set)!;
}

function hash3(b0: number, b1: number, b2: number): number {
  return ((b0 << 10) ^ (b1 << 5) ^ b2) & 0xffff;
}

/** FNV-1a of the `length` bytes of `data` from `at`. */
function fingerprint(data: Uint8Array, at: number, length: number): number {
  let h = 0x811c9dc5;
  for (let i = at; i < at + length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h;
}

/**
 * The Wu–Manber window length (0: none, every pattern gets an `indexOf` pass) that makes
 * the search cheapest for patterns of these lengths. Only speed depends on it; exported
 * so its tests can pin the cost model's choices.
 */
export function chooseWindow(lengths: number[]): number {
  let best = 0;
  let bestCost = PASS_COST * lengths.length;
  for (const window of new Set(lengths.map((n) => Math.min(n, WINDOW_CAP)))) {
    if (window < BLOCK) continue;
    const cost = STEP_COST / (window - BLOCK + 1) + PASS_COST * lengths.filter((n) => n < window).length;
    if (cost < bestCost) [best, bestCost] = [window, cost];
  }
  return best;
}

function compile(unique: Uint8Array[]): MaskIndex {
  const store = Buffer.alloc(unique.reduce((sum, p) => sum + p.length, 0));
  const patterns: Buffer[] = [];
  let offset = 0;
  for (const p of unique) {
    store.set(p, offset);
    patterns.push(store.subarray(offset, offset + p.length));
    offset += p.length;
  }
  const window = chooseWindow(patterns.map((p) => p.length));
  const short: number[] = [];
  let longestShort = 0;
  const byBigram: (number[] | undefined)[] = new Array(65536);
  const byFirstByte: (number[] | undefined)[] = new Array(256);
  const shift = new Uint8Array(65536).fill(Math.max(1, window - BLOCK + 1));
  const byHash: (number[] | undefined)[] = new Array(65536);
  const fingerprints = new Int32Array(patterns.length);
  const add = (table: (number[] | undefined)[], key: number, k: number) => {
    const list = table[key];
    if (list === undefined) table[key] = [k];
    else list.push(k);
  };
  patterns.forEach((p, k) => {
    add(byBigram, (p[0]! << 8) | p[1]!, k);
    add(byFirstByte, p[0]!, k);
    if (window === 0 || p.length < window) {
      short.push(k);
      longestShort = Math.max(longestShort, p.length);
      return;
    }
    for (let end = BLOCK - 1; end < window; end++) {
      const h = hash3(p[end - 2]!, p[end - 1]!, p[end]!);
      shift[h] = Math.min(shift[h]!, window - 1 - end);
    }
    add(byHash, hash3(p[window - 3]!, p[window - 2]!, p[window - 1]!), k);
    fingerprints[k] = fingerprint(p, 0, window);
  });
  return {
    store,
    patterns,
    short,
    window,
    shift,
    byHash,
    fingerprints,
    byBigram,
    byFirstByte,
    tail: Math.max(window, longestShort) - 1,
  };
}

/**
 * A streaming masker: feed it chunks with `push`, write what it returns, and call `end`
 * when the stream ends to flush what it held back. It may keep a reference to a chunk
 * until it emits it, so do not reuse a chunk's memory.
 *
 * @example
 * const masker = new SecretMasker([Buffer.from('hunter2')]);
 * masker.push(Buffer.from('pass: hun')); // 'pass: ' (holds 'hun', a prefix of the secret)
 * masker.push(Buffer.from('ter2!\n'));   // '***!\n'
 * masker.end();                          // ''
 */
export class SecretMasker {
  readonly #set: MaskSet;
  readonly #ownSet: boolean;
  readonly #index: MaskIndex;
  /** Bytes received but not yet emitted, starting at absolute offset `#emitted`. */
  #held: Buffer[] = [];
  #emitted = 0;
  /** Absolute offset of the end of everything received. */
  #received = 0;
  /** Partial matches cut by a chunk boundary: flat triples (start, pattern, bytes matched). */
  #live: number[] = [];
  /** Masked runs not yet emitted: flat pairs (start, end), sorted and disjoint. */
  #runs: number[] = [];

  constructor(secrets: MaskSet | readonly Uint8Array[], options: MaskOptions = {}) {
    this.#ownSet = !(secrets instanceof MaskSet);
    this.#set = secrets instanceof MaskSet ? secrets : new MaskSet(secrets, options);
    this.#index = indexOf(this.#set);
  }

  /** Wipe the copies of the values, if this masker made them (a shared `MaskSet` is its owner's to wipe). */
  dispose(): void {
    if (this.#ownSet) this.#set.dispose();
    // Drop what is held back (a secret's prefix, possibly): the next push starts a new stream.
    this.#held = [];
    this.#live = [];
    this.#runs = [];
    this.#emitted = this.#received = 0;
  }

  /** Values given that are too short to be masked (see `MaskSet.skipped`). */
  get skipped(): readonly number[] {
    return this.#set.skipped;
  }

  /** Mask `chunk`, returning what can be emitted now (possibly empty). */
  push(chunk: Uint8Array): Buffer {
    return join(this.pushPieces(chunk));
  }

  /**
   * As `push`, but returns the output as pieces to write in order, which saves a copy: a
   * chunk with nothing to hide comes back as the same buffer.
   */
  pushPieces(chunk: Uint8Array): Buffer[] {
    const data = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (data.length === 0) return [];
    const base = this.#received;
    this.#received += data.length;
    this.#held.push(data);
    if (this.#index.patterns.length === 0) return this.#emit(this.#received);
    const found: number[] = [];
    this.#advance(data, found);
    this.#scan(data, base, found);
    if (found.length > 0) this.#addRuns(found);

    let safe = this.#received;
    for (let i = 0; i < this.#live.length; i += 3) safe = Math.min(safe, this.#live[i]!);
    let upto = safe;
    for (let i = 0; i < this.#runs.length; i += 2) {
      if (this.#runs[i + 1]! > safe) {
        upto = Math.min(upto, this.#runs[i]!);
        break;
      }
    }
    return this.#emit(upto);
  }

  /** Flush everything held back; the masker can then be used for a new stream. */
  end(): Buffer {
    return join(this.endPieces());
  }

  /** As `end`, as pieces. */
  endPieces(): Buffer[] {
    // What was held is emitted (and the runs in it replaced): nothing is carried over.
    this.#live = [];
    return this.#emit(this.#received);
  }

  /** Extend the partial matches carried over from earlier chunks with `data`. */
  #advance(data: Buffer, found: number[]): void {
    if (this.#live.length === 0) return;
    const live = this.#live;
    const next: number[] = [];
    for (let i = 0; i < live.length; i += 3) {
      const start = live[i]!;
      const k = live[i + 1]!;
      const matched = live[i + 2]!;
      const pattern = this.#index.patterns[k]!;
      const need = pattern.length - matched;
      const take = Math.min(need, data.length);
      if (data.compare(pattern, matched, matched + take, 0, take) !== 0) continue;
      if (take === need) found.push(start, start + pattern.length);
      else next.push(start, k, matched + take);
    }
    this.#live = next;
  }

  /** Find the patterns that start in `data`: whole ones, and prefixes cut by its end. */
  #scan(data: Buffer, base: number, found: number[]): void {
    const { patterns, short, window, shift, byHash, fingerprints } = this.#index;
    const n = data.length;
    // Long patterns: Wu–Manber over the window-long prefixes; a candidate is confirmed
    // with memcmp, or carried as a partial match when the pattern runs past the chunk.
    for (let end = window === 0 ? n : window - 1; end < n;) {
      const h = hash3(data[end - 2]!, data[end - 1]!, data[end]!);
      const skip = shift[h]!;
      if (skip !== 0) {
        end += skip;
        continue;
      }
      const at = end - window + 1;
      // The window lies wholly in `data` here, so a pattern (whole or cut) must match all of it.
      const print = fingerprint(data, at, window);
      for (const k of byHash[h]!) {
        if (fingerprints[k] === print) this.#confirm(data, patterns[k]!, k, at, base, found);
      }
      end += 1;
    }
    for (const k of short) {
      const pattern = patterns[k]!;
      for (let at = data.indexOf(pattern); at !== -1; at = data.indexOf(pattern, at + 1)) {
        found.push(base + at, base + at + pattern.length);
      }
    }
    // Prefixes that start too close to the end for the passes above to see them.
    const { byBigram, byFirstByte, tail } = this.#index;
    for (let at = Math.max(0, n - tail); at < n; at++) {
      const list = at + 1 < n ? byBigram[(data[at]! << 8) | data[at + 1]!] : byFirstByte[data[at]!];
      if (list === undefined) continue;
      for (const k of list) {
        const pattern = patterns[k]!;
        const avail = n - at;
        // A cut prefix longer than the window was seen by the Wu–Manber pass if its window fits.
        if (pattern.length <= avail || (window > 0 && at + window <= n)) continue;
        if (data.compare(pattern, 0, avail, at, n) === 0) this.#live.push(base + at, k, avail);
      }
    }
  }

  /** Check pattern `k` at `at`: a whole occurrence, or a prefix cut by the chunk's end. */
  #confirm(data: Buffer, pattern: Buffer, k: number, at: number, base: number, found: number[]): void {
    const avail = data.length - at;
    if (pattern.length <= avail) {
      if (data.compare(pattern, 0, pattern.length, at, at + pattern.length) === 0) {
        found.push(base + at, base + at + pattern.length);
      }
    } else if (data.compare(pattern, 0, avail, at, data.length) === 0) {
      this.#live.push(base + at, k, avail);
    }
  }

  /** Merge new occurrences (flat pairs) into the sorted, disjoint runs. */
  #addRuns(found: number[]): void {
    const added = sortedPairs(found);
    const old = this.#runs;
    const runs: number[] = [];
    // A merge of two lists sorted by start; each run or occurrence joins the last run if it
    // overlaps it. Only overlapping occurrences merge: a secret printed twice in a row shows
    // as ******. (With no run yet, `runs[-1]` is undefined and the comparison false.)
    for (let i = 0, j = 0; i < old.length || j < added.length;) {
      const fromOld = j >= added.length || (i < old.length && old[i]! <= added[j]!);
      const list = fromOld ? old : added;
      const at = fromOld ? i : j;
      const start = list[at]!;
      const end = list[at + 1]!;
      if (fromOld) i += 2;
      else j += 2;
      const last = runs.length - 1;
      if (start < runs[last]!) runs[last] = Math.max(runs[last]!, end);
      else runs.push(start, end);
    }
    this.#runs = runs;
  }

  /** The held bytes before absolute offset `upto`, with the runs there replaced, as pieces. */
  #emit(upto: number): Buffer[] {
    const out: Buffer[] = [];
    const runs = this.#runs;
    let r = 0;
    while (this.#emitted < upto) {
      // (Past the last run, `runs[r + 1]` is undefined and the comparison false.)
      const end = runs[r + 1]! <= upto ? runs[r]! : upto;
      this.#take(end, out);
      if (end === upto) break;
      this.#take(runs[r + 1]!, undefined);
      out.push(REPLACEMENT);
      r += 2;
    }
    if (r > 0) this.#runs = runs.slice(r);
    return out;
  }

  /** Remove the held bytes before absolute offset `upto`, appending them to `into` if given. */
  #take(upto: number, into: Buffer[] | undefined): void {
    let need = upto - this.#emitted;
    while (need > 0) {
      const head = this.#held[0]!;
      if (head.length <= need) {
        into?.push(head);
        this.#held.shift();
        need -= head.length;
      } else {
        into?.push(head.subarray(0, need));
        this.#held[0] = head.subarray(need);
        need = 0;
      }
    }
    this.#emitted = upto;
  }
}

/** Flat (start, end) pairs sorted by start: `pairs` itself when it already is. */
function sortedPairs(pairs: number[]): number[] {
  let sorted = true;
  for (let i = 2; i < pairs.length && sorted; i += 2) sorted = pairs[i - 2]! <= pairs[i]!;
  if (sorted) return pairs;
  const order = Array.from({ length: pairs.length / 2 }, (_, i) => 2 * i).sort(
    (a, b) => pairs[a]! - pairs[b]!,
  );
  return order.flatMap((i) => [pairs[i]!, pairs[i + 1]!]);
}

/**
 * A Transform stream that masks what passes through it (one `SecretMasker`).
 *
 * @example
 * child.stdout.pipe(createMaskStream([Buffer.from(token)])).pipe(process.stdout);
 */
export function createMaskStream(
  secrets: MaskSet | readonly Uint8Array[],
  options: MaskOptions = {},
): Transform {
  const masker = new SecretMasker(secrets, options);
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      for (const piece of masker.pushPieces(chunk)) this.push(piece);
      callback();
    },
    flush(callback: TransformCallback) {
      for (const piece of masker.endPieces()) this.push(piece);
      masker.dispose();
      callback();
    },
    destroy(error, callback) {
      masker.dispose();
      callback(error);
    },
  });
}

function join(pieces: Buffer[]): Buffer {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/** The lines of `value`, split at CR, LF and CRLF (empty lines included; without them, `value`). */
function lines(value: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const byte = value[i];
    if (byte !== CR && byte !== LF) continue;
    out.push(value.subarray(start, i));
    start = i + 1;
  }
  out.push(value.subarray(start));
  return out;
}

/** Distinct patterns, longest first (the order does not affect the result). */
function dedupe(patterns: Uint8Array[]): Uint8Array[] {
  const sorted = [...patterns].sort((a, b) => b.length - a.length || Buffer.compare(a, b));
  return sorted.filter((p, i) => i === 0 || Buffer.compare(p, sorted[i - 1]!) !== 0);
}
