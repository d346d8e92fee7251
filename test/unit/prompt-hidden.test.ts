/**
 * The hidden prompt of `egg secrets set` (cli/io.ts), fed keystrokes as a raw terminal sends
 * them. The real terminal is in test/e2e/secrets-set-input.test.ts.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { promptHidden, type TerminalInput } from '../../cli/io.js';

function terminal(...keystrokes: (string | Buffer)[]) {
  const input = new PassThrough() as PassThrough & TerminalInput;
  const modes: boolean[] = [];
  input.isRaw = false;
  input.setRawMode = (mode: boolean) => {
    modes.push(mode);
    input.isRaw = mode;
    return input;
  };
  const shown: string[] = [];
  const output = new PassThrough();
  output.on('data', (chunk: Buffer) => shown.push(chunk.toString()));
  const chunks = keystrokes.map((k) => (typeof k === 'string' ? Buffer.from(k) : k));
  for (const chunk of chunks) input.write(chunk);
  return { input, output, modes, shown: () => shown.join(''), chunks };
}

describe('promptHidden', () => {
  it('returns the line without its Enter, echoes nothing of it, and leaves the terminal as it was', async () => {
    const t = terminal('s3cr', 'et-value\r');
    const value = await promptHidden('Value: ', t.input, t.output);
    expect(value.toString()).toBe('s3cret-value');
    expect(t.shown()).toBe('Value: \n');
    expect(t.modes).toEqual([true, false]);
  });

  it('takes \\n as Enter too, and Ctrl-D on an empty line as an empty value', async () => {
    expect((await promptHidden('', terminal('abc\n').input, new PassThrough())).toString()).toBe('abc');
    expect((await promptHidden('', terminal('\x04').input, new PassThrough())).length).toBe(0);
  });

  it('edits with Backspace (a whole UTF-8 character) and Ctrl-U', async () => {
    const typed = terminal('abX\x7fc', 'é\x7f\x08d', 'zz\x15wxyz\x7f\r');
    expect((await promptHidden('', typed.input, new PassThrough())).toString()).toBe('wxy');
    const utf8 = terminal('añ\x7fb€\x7f\x7f\r');
    expect((await promptHidden('', utf8.input, new PassThrough())).toString()).toBe('a');
  });

  it('keeps a long value whole across buffer growth', async () => {
    const long = 'x'.repeat(5000);
    expect((await promptHidden('', terminal(long, '\r').input, new PassThrough())).toString()).toBe(long);
  });

  it('refuses a pasted multi-line value instead of storing its first line', async () => {
    const t = terminal('-----BEGIN KEY-----\rMIIB\r-----END KEY-----\r');
    await expect(promptHidden('', t.input, t.output)).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: 'the pasted value has more than one line; nothing was stored',
    });
    expect(t.modes).toEqual([true, false]);
  });

  it('accepts \\r\\n as one Enter', async () => {
    expect((await promptHidden('', terminal('abc\r\n').input, new PassThrough())).toString()).toBe('abc');
  });

  it('cancels on Ctrl-C, restoring the terminal, and on a terminal that closes first', async () => {
    const t = terminal('secret-so-far\x03more\r');
    await expect(promptHidden('', t.input, t.output)).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    expect(t.modes).toEqual([true, false]);
    const closed = terminal('half');
    closed.input.end();
    await expect(promptHidden('', closed.input, closed.output)).rejects.toMatchObject({
      code: 'ERR_CANCELLED',
      message: 'the terminal closed before the value was entered; nothing was stored',
    });
  });

  it('wipes the chunks it read', async () => {
    const t = terminal('wipe-me\r');
    await promptHidden('', t.input, new PassThrough());
    expect(t.chunks[0]!.every((b) => b === 0)).toBe(true);
  });
});
