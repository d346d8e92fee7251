/**
 * The built `egg run` driven as a terminal would drive it (issue 11, item 5): each test starts
 * a shell line on a pseudo-terminal from node-pty, types into it, and reads what it shows.
 * egg gives its child a pseudo-terminal of its own (node-pty too), so the child sees a
 * terminal of egg's size, prompts show before their newline, Ctrl-C reaches it, and what it
 * prints is masked in every form the Action masks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPty, type PtyModule } from '../../src/run/pty.js';
import { shellQuote } from '../../src/run/run.js';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';

const CANARY = 'egg-canary/run-pty+"5c2e"';
const EGG = `${shellQuote(process.execPath)} ${shellQuote(EGG_BIN)}`;

/** A step of a session: once the screen shows `when`, do `then`. */
interface Step {
  when: string;
  then: (
    terminal: { write(data: string): void; resize(cols: number, rows: number): void },
    screen: string,
  ) => void;
}

/**
 * Run `line` with `sh` on a new terminal of `cols` × `rows`, doing `steps` in order as the
 * screen shows what each waits for; resolves to the whole screen once the shell exits.
 */
function onTerminal(
  pty: PtyModule,
  line: string,
  env: NodeJS.ProcessEnv,
  steps: Step[] = [],
  size: [number, number] = [101, 37],
): Promise<string> {
  const terminal = pty.spawn('/bin/sh', ['-c', line], {
    name: 'xterm-256color',
    cols: size[0],
    rows: size[1],
    cwd: process.cwd(),
    env: Object.fromEntries(
      // Node's colour detection also reads CI (with CI set it reports 2 colours): a terminal
      // user's shell has none of these.
      Object.entries({ ...process.env, ...env }).filter(
        (entry): entry is [string, string] =>
          entry[1] !== undefined && !['FORCE_COLOR', 'NO_COLOR', 'CI'].includes(entry[0]),
      ),
    ),
    encoding: null,
  });
  let screen = '';
  let next = 0;
  terminal.onData((data) => {
    screen += data.toString();
    while (next < steps.length && screen.includes(steps[next]!.when)) steps[next++]!.then(terminal, screen);
  });
  return new Promise((resolve) => terminal.onExit(() => resolve(screen)));
}

const ptyOrReason = await loadPty();

// Windows: the shell lines below are POSIX sh; egg run on Windows is covered by the unit tests.
describe.runIf(process.platform !== 'win32' && !('reason' in ptyOrReason))(
  'egg run on a node-pty terminal',
  () => {
    const pty = ptyOrReason as PtyModule;
    let base: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(() => {
      base = mkdtempSync(join(tmpdir(), 'egg-run-pty-'));
      env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
      const set = egg(['secrets', 'set', 'RUN_SECRET'], { env, input: CANARY, cwd: base });
      expect(set.code).toBe(0);
    });
    afterAll(() => rmSync(base, { recursive: true, force: true }));

    it('gives the child a terminal: isatty on all three, colours, and egg’s window size', async () => {
      const child = `process.stdout.write([process.stdin.isTTY, process.stdout.isTTY, process.stderr.isTTY, process.stdout.hasColors(), process.stdout.columns, process.stdout.rows].join(' ') + ' ' + require('util').inspect(5, { colors: process.stdout.hasColors() }) + '\\n')`;
      const screen = await onTerminal(
        pty,
        `${EGG} run -- ${shellQuote(process.execPath)} -e ${shellQuote(child)}; stty size; echo "exit $?"`,
        env,
      );
      expect(screen).toBe('true true true true 101 37 \x1b[33m5\x1b[39m\r\n37 101\r\nexit 0\r\n');
    });

    it('follows the window when the terminal is resized (SIGWINCH)', async () => {
      const child = `console.log('ready'); setInterval(() => {}, 1000); process.stdout.on('resize', () => { console.log('now ' + process.stdout.columns + ' ' + process.stdout.rows); process.exit(0); });`;
      const screen = await onTerminal(
        pty,
        `${EGG} run -- ${shellQuote(process.execPath)} -e ${shellQuote(child)}`,
        env,
        [{ when: 'ready', then: (t) => t.resize(120, 40) }],
      );
      expect(screen).toBe('ready\r\nnow 120 40\r\n');
    });

    it('shows a prompt without a newline and passes the answer typed on the terminal', async () => {
      const screen = await onTerminal(
        pty,
        `${EGG} run -- sh -c 'printf "Password: "; read answer; echo "got $answer"; exit 4'; echo "exit $?"`,
        env,
        [{ when: 'Password: ', then: (t) => t.write('swordfish\r') }],
      );
      expect(screen).toBe('Password: swordfish\r\ngot swordfish\r\nexit 4\r\n');
    });

    it('masks the secret and its base64, URL-encoded and JSON-escaped forms on the terminal', async () => {
      const child = `const s = process.env.RUN_SECRET; console.log(s); console.log(Buffer.from(s).toString('base64')); console.log(encodeURIComponent(s)); console.log(JSON.stringify({ s }));`;
      const screen = await onTerminal(
        pty,
        `${EGG} run -- ${shellQuote(process.execPath)} -e ${shellQuote(child)}`,
        env,
      );
      expect(screen).toBe('***\r\n***\r\n***\r\n{"s":"***"}\r\n');
      expect(findLeaks(screen, CANARY)).toEqual([]);
    });

    it('delivers a Ctrl-C typed on the terminal to the child, once, and exits with its code', async () => {
      const child = `let n = 0; process.on('SIGINT', () => { n++; setTimeout(() => { console.log('SIGINTs ' + n); process.exit(9); }, 300); }); console.log('ready'); setInterval(() => {}, 1000);`;
      const screen = await onTerminal(
        pty,
        `${EGG} run -- ${shellQuote(process.execPath)} -e ${shellQuote(child)}; echo "exit $?"`,
        env,
        [{ when: 'ready', then: (t) => t.write('\x03') }],
      );
      expect(screen).toBe('ready\r\n^CSIGINTs 1\r\nexit 9\r\n');
    });

    it('restores the terminal (line mode, echo, output processing) when egg is ended by SIGTERM', async () => {
      // The child prints egg's pid (its parent); the test sends egg SIGTERM, which egg passes on.
      const child = `console.log('egg=' + process.ppid + '.'); setInterval(() => {}, 1000);`;
      const screen = await onTerminal(
        pty,
        `${EGG} run -- ${shellQuote(process.execPath)} -e ${shellQuote(child)}; echo "exit $?"; stty -a`,
        env,
        [{ when: '.', then: (_t, shown) => process.kill(Number(/egg=(\d+)\./.exec(shown)?.[1]), 'SIGTERM') }],
      );
      expect(screen).toMatch(/^egg=\d+\.\r\nexit 143\r\n/);
      const settings = screen.split(/\s+/);
      expect(settings).toEqual(expect.arrayContaining(['icanon', 'echo', 'opost', 'isig']));
    });
  },
);
