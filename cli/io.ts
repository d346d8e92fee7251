/** Small I/O helpers shared by commands: reading stdin, a prompt that does not echo, and a secret's value from the one source given. (Private files: src/own-files.ts.) */
import { EggError } from '../src/errors.js';

/** All of stdin as bytes. */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A terminal's input stream, as far as a hidden prompt needs it. */
export interface TerminalInput extends NodeJS.ReadableStream {
  setRawMode(mode: boolean): unknown;
  isRaw?: boolean;
}

const ENTER = new Set([0x0d, 0x0a]);
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;
const BACKSPACE = new Set([0x7f, 0x08]);

/**
 * Ask for one line on a terminal without echoing it: `label` goes to `output`, the
 * terminal is raw until Enter, and the value comes back without the line ending. Backspace
 * and Ctrl-U edit; Ctrl-C refuses (exit 130, nothing stored); Ctrl-D on an empty line ends
 * with an empty value. A paste holding more than one line is refused rather than cut at the
 * first line: multi-line values come from a file (`< cert.pem`). Every buffer the value
 * passed through is wiped.
 */
export async function promptHidden(
  label: string,
  input: TerminalInput = process.stdin as TerminalInput,
  output: NodeJS.WritableStream = process.stderr,
): Promise<Buffer> {
  const wasRaw = input.isRaw === true;
  // Raw before the label: whoever sees the label may type at once, and must not be echoed.
  input.setRawMode(true);
  output.write(label);
  let value = Buffer.alloc(64);
  let length = 0;
  const grow = (need: number) => {
    if (need <= value.length) return;
    const bigger = Buffer.alloc(Math.max(need, value.length * 2));
    value.copy(bigger, 0, 0, length);
    value.fill(0);
    value = bigger;
  };
  try {
    for await (const chunk of input) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      try {
        for (let i = 0; i < bytes.length; i++) {
          const byte = bytes[i]!;
          if (byte === CTRL_C)
            throw new EggError('ERR_CANCELLED', 'cancelled at the prompt; nothing was stored');
          if (ENTER.has(byte) || (byte === CTRL_D && length === 0)) {
            const rest = bytes.subarray(i + 1).filter((b) => !ENTER.has(b));
            if (rest.length > 0)
              throw new EggError('ERR_USAGE', 'the pasted value has more than one line; nothing was stored', {
                hint: 'store a multi-line value from a file: egg secrets set NAME < file',
              });
            return Buffer.from(value.subarray(0, length));
          }
          if (BACKSPACE.has(byte)) {
            // Remove one UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte.
            while (length > 0 && (value[length - 1]! & 0xc0) === 0x80) length--;
            if (length > 0) length--;
          } else if (byte === CTRL_U) {
            length = 0;
          } else if (byte !== CTRL_D) {
            grow(length + 1);
            value[length++] = byte;
          }
        }
      } finally {
        if (typeof chunk !== 'string') bytes.fill(0);
      }
    }
    throw new EggError(
      'ERR_CANCELLED',
      'the terminal closed before the value was entered; nothing was stored',
    );
  } finally {
    value.fill(0);
    input.setRawMode(wasRaw);
    input.pause();
    output.write('\n');
  }
}

/** The value to store, from the one source given (see the command's description). */
export async function readSecretValue(
  name: string,
  argument: string | undefined,
  flags: { 'from-file'?: string | undefined; 'from-env'?: string | undefined },
): Promise<Buffer> {
  if (argument !== undefined) {
    process.stderr.write(
      'Warning: a value given on the command line can be seen in your shell history and the process list; use the prompt, --from-env or stdin instead.\n',
    );
    return Buffer.from(argument);
  }
  const file = flags['from-file'];
  if (file !== undefined) return readValueFile(file);
  const variable = flags['from-env'];
  if (variable !== undefined) {
    const text = process.env[variable];
    if (text === undefined)
      throw new EggError('ERR_USAGE', `--from-env ${variable}: no such variable is set`, {
        hint: `export ${variable} first, or pick the variable that holds the value`,
      });
    return Buffer.from(text);
  }
  if (process.stdin.isTTY) {
    return promptHidden(
      `Value for ${name} (not shown; Enter to finish, Ctrl-C to cancel): `,
      process.stdin as TerminalInput,
    );
  }
  return readStdin();
}

async function readValueFile(file: string): Promise<Buffer> {
  const { readFileSync } = await import('node:fs');
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : `cannot read it (${code ?? 'unknown error'})`;
    throw new EggError('ERR_USAGE', `--from-file ${file}: ${why}; nothing was stored`);
  }
}
