/**
 * The `dotenv` format, written for the `dotenv` npm package's parser (`LINE` in
 * lib/main.js, the same from v16 to v18; its opt-in `fast` parser reads these files the
 * same way). That parser has no escape for a quote or a backslash, so each value gets the
 * first of these forms that reads back exactly:
 *
 * 1. Quoted: `'…'` and `` `…` `` are literal and may span lines; `"…"` turns `\n` and `\r`
 *    into line feed and carriage return (so it carries those, written that way) and keeps
 *    everything else. The quote itself may appear only as `\'`, kept as typed. The parser
 *    turns every carriage return in the file into a line feed, so only `"…"` carries one.
 * 2. Unquoted: cut at `#`, trimmed, one line.
 * 3. Quotes the parser gives up on: around a value holding that quote bare, the quoted
 *    reading fails, and the parser reads the line unquoted and strips the outer quotes
 *    (for `"`, also expanding `\n` and `\r`). This carries any mix of quotes, provided
 *    there is no `#` and no such quote is followed by white space and U+2028 or U+2029
 *    (which the parser's `m`-flag `$` takes for a line end).
 *
 * A quoted value ending in a backslash would let `\'` swallow its closing quote and run
 * on into later lines, and an unquoted value starting with a quote is first tried as a
 * quoted one; either is followed by a guard, a `#` comment line holding that quote where
 * no value can end, so the parser cannot run on past it.
 *
 * Preference: `'…'`, `"…"`, `` `…` `` (multi-line values: `"…"` first, one line each),
 * then unquoted, then form 3. Refused, naming the secret and what the value holds: values
 * that are not UTF-8 or hold NUL (dotenv fills `process.env`, which cannot carry NUL), and
 * the rare mixes no form fits, such as `#` with all three quote characters, or a carriage
 * return with a literal `\n`. The tests fuzz this against the real parser, and check that
 * each refused value also fails every quoting tried by hand.
 */
import {
  BACKSLASH,
  BACKTICK,
  type ByteWriter,
  CR,
  codePointAt,
  DOUBLE_QUOTE,
  HASH,
  hasBackslashBefore,
  indexOfUnescaped,
  isJsWhitespace,
  isUtf8,
  LF,
  lastCodePoint,
  NUL,
  rawInstead,
  SINGLE_QUOTE,
  unrepresentable,
} from './bytes.js';

const LETTER_N = 0x6e;
const LETTER_R = 0x72;
const LINE_SEPARATOR = Buffer.from('\u2028');
const PARAGRAPH_SEPARATOR = Buffer.from('\u2029');

type Quote = typeof SINGLE_QUOTE | typeof DOUBLE_QUOTE | typeof BACKTICK;

export function writeDotenv(name: string, value: Buffer, out: ByteWriter): void {
  if (!isUtf8(value)) {
    throw unrepresentable(name, 'is not valid UTF-8, which a dotenv file cannot carry', rawInstead(name));
  }
  if (value.includes(NUL)) {
    throw unrepresentable(
      name,
      'contains a NUL byte, which an environment variable cannot carry',
      rawInstead(name),
    );
  }
  const hasCR = value.includes(CR);
  const multiline = hasCR || value.includes(LF);
  const endsWithBackslash = value.length > 0 && value[value.length - 1] === BACKSLASH;
  const bareSingle = indexOfUnescaped(value, SINGLE_QUOTE) !== -1;
  const bareBacktick = indexOfUnescaped(value, BACKTICK) !== -1;
  const bareDouble = indexOfUnescaped(value, DOUBLE_QUOTE) !== -1;
  const escapeLike = hasBackslashBefore(value, [LETTER_N, LETTER_R]);
  const fits: Record<Quote, boolean> = {
    [SINGLE_QUOTE]: !hasCR && !bareSingle,
    [DOUBLE_QUOTE]: !bareDouble && !escapeLike,
    [BACKTICK]: !hasCR && !bareBacktick,
  };

  const order: Quote[] = multiline
    ? [DOUBLE_QUOTE, SINGLE_QUOTE, BACKTICK]
    : [SINGLE_QUOTE, DOUBLE_QUOTE, BACKTICK];
  const quote = order.find((q) => fits[q]);
  const bare = multiline ? undefined : unquoted(value, escapeLike);
  // Quotes around a value that holds that quote bare: the quoted reading fails, and the
  // unquoted one strips the outer quotes (and, for `"`, expands \n and \r) instead.
  const hash = value.includes(HASH);
  const fallback = order.find(
    (q) => !hash && (q === DOUBLE_QUOTE ? !escapeLike : !multiline) && cannotClose(value, q),
  );
  // A trailing backslash needs a guard line when quoted; unquoted it needs none.
  if (endsWithBackslash && bare === null) {
    writeBare(name, value, null, out);
  } else if (quote !== undefined) {
    writeQuoted(name, value, quote, endsWithBackslash, out);
  } else if (bare !== undefined) {
    writeBare(name, value, bare, out);
  } else if (fallback !== undefined) {
    writeQuoted(name, value, fallback, false, out);
  } else {
    const has = [
      ...[SINGLE_QUOTE, DOUBLE_QUOTE, BACKTICK]
        .filter((q) => value.includes(q))
        .map((q) => String.fromCharCode(q)),
      ...(value.includes(LF) ? ['a line break'] : []),
      ...(hasCR ? ['a carriage return'] : []),
      ...(hash ? ['#'] : []),
      ...(escapeLike ? ['a literal \\n or \\r'] : []),
      ...(value.includes(LINE_SEPARATOR) || value.includes(PARAGRAPH_SEPARATOR)
        ? ['a Unicode line separator']
        : []),
    ];
    throw unrepresentable(
      name,
      `contains ${has.length > 1 ? `${has.slice(0, -1).join(', ')} and ${has.at(-1)}` : has[0]}, a mix that no dotenv quoting reads back exactly`,
      'use --format json or shell',
    );
  }
}

/**
 * Whether `value`, between two `quote`s, cannot be read as a quoted value: it holds the
 * quote bare (not after a backslash), and neither that one nor an escaped one before it is
 * followed by white space running into a line separator (U+2028, U+2029), where the
 * parser would accept it as the closing quote (`$` with the `m` flag). Line feeds and
 * carriage returns are not in such a value, or are written as \n and \r.
 */
function cannotClose(value: Buffer, quote: Quote): boolean {
  for (let i = value.indexOf(quote); i !== -1; i = value.indexOf(quote, i + 1)) {
    if (runsIntoLineSeparator(value, i + 1)) return false;
    if (i === 0 || value[i - 1] !== BACKSLASH) return true;
  }
  return false;
}

function runsIntoLineSeparator(value: Buffer, from: number): boolean {
  for (let i = from; i < value.length;) {
    const codePoint = codePointAt(value, i);
    if (codePoint === 0x2028 || codePoint === 0x2029) return true;
    if (codePoint === LF || codePoint === CR || !isJsWhitespace(codePoint)) return false;
    i += codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
  }
  return false;
}

function writeQuoted(name: string, value: Buffer, quote: Quote, guard: boolean, out: ByteWriter): void {
  out.ascii(`${name}=`);
  out.byte(quote);
  if (quote === DOUBLE_QUOTE) {
    let start = 0;
    for (let i = 0; i < value.length; i++) {
      const byte = value[i];
      if (byte !== LF && byte !== CR) continue;
      out.bytes(value, start, i);
      out.ascii(byte === LF ? '\\n' : '\\r');
      start = i + 1;
    }
    out.bytes(value, start);
  } else {
    out.bytes(value);
  }
  out.byte(quote);
  out.byte(LF);
  if (guard) writeGuard(name, quote, 'ends with a backslash', out);
}

function writeBare(name: string, value: Buffer, guard: Quote | null, out: ByteWriter): void {
  out.ascii(`${name}=`);
  out.bytes(value);
  out.byte(LF);
  if (guard !== null) writeGuard(name, guard, 'starts with a quote', out);
}

/**
 * A `#` comment line holding a bare `quote` that is not followed by the end of the line.
 * No quoted value can close there, so the parser cannot run on past it: it backtracks to
 * the quote that really closes the value above, or reads that value unquoted.
 */
function writeGuard(name: string, quote: Quote, why: string, out: ByteWriter): void {
  out.byte(HASH);
  out.byte(quote);
  out.ascii(` egg: keeps ${name}, which ${why}, from running on\n`);
}

/**
 * Whether the parser reads `value` back when it is written unquoted: `null` if as is,
 * the quote character to guard against if it starts with one, `undefined` if not at all.
 * Unquoted, the parser keeps `[^#\r\n]+` and trims it; it strips matching quotes from any
 * "line" of it (its regex has the `m` flag, for which U+2028 and U+2029 also end lines); and
 * the `fast` parser expands `\n` and `\r` in a value that starts with `"`. A value that starts
 * with a quote is first tried as a quoted one, which fails on its own line only if no
 * quote of that kind there can close it, and on later lines only thanks to a guard line.
 */
function unquoted(value: Buffer, escapeLike: boolean): Quote | null | undefined {
  if (value.length === 0 || value.includes(HASH) || value.includes(LF) || value.includes(CR))
    return undefined;
  if (value.includes(LINE_SEPARATOR) || value.includes(PARAGRAPH_SEPARATOR)) return undefined;
  if (isJsWhitespace(codePointAt(value, 0)) || isJsWhitespace(lastCodePoint(value))) return undefined;
  const first = value[0];
  if (first !== SINGLE_QUOTE && first !== DOUBLE_QUOTE && first !== BACKTICK) return null;
  if (value[value.length - 1] === first || (first === DOUBLE_QUOTE && escapeLike)) return undefined;
  return first;
}
