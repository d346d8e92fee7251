import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { egg, findLeaks } from '../support/cli.js';

const CANARY = 'egg-canary-7f3a9c1e-DO-NOT-LEAK';
/** Windows has ACLs, not POSIX modes, no FIFOs and no `sh`: the tests of those skip there. */
const POSIX = process.platform !== 'win32';

describe('egg CLI on the embedded default', () => {
  let base: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const outputs: string[] = [];
  const run = (args: string[], input?: string | Buffer, extraEnv: NodeJS.ProcessEnv = {}) => {
    const result = egg(args, {
      env: { ...env, ...extraEnv },
      ...(input === undefined ? {} : { input }),
      cwd: base,
    });
    return result;
  };
  /** Output of commands that did not ask for the canary's value: it must never be there. */
  const quiet = (args: string[], input?: string | Buffer) => {
    const result = run(args, input);
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-cli-'));
    home = join(base, 'home');
    env = { EGG_HOME: home, EGG_NAMESPACE: 'acme/web' };
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('prints its version without loading the command framework', () => {
    const result = run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^eggcarton/\\d+\\.\\d+\\.\\d+ ${process.platform}-${process.arch} node-v24\\.\\d+\\.\\d+\\n$`,
      ),
    );
  });

  it('refuses to read a vault that does not exist and says how to make one', () => {
    const result = quiet(['secrets', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: there is no vault at ${home} (run \`egg init\` (or \`egg secrets set NAME\`) to create one, or set EGG_HOME).\n`,
    );
  });

  it.runIf(POSIX)('initialises a private vault (modes 0700 and 0600: POSIX only)', () => {
    const result = quiet(['init']);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe(`Local vault ready at ${home}.`);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(join(home, 'vault.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'kek')).mode & 0o777).toBe(0o600);
  });

  it('sets a value from stdin and prints it back exactly', () => {
    expect(quiet(['secrets', 'set', 'CANARY'], CANARY)).toMatchObject({
      code: 0,
      stdout: 'Set CANARY in acme/web (rev 1).\n',
      stderr: '',
    });
    const get = run(['secrets', 'get', 'CANARY']);
    expect(get).toMatchObject({ code: 0, stdout: CANARY, stderr: '' });
  });

  it('round-trips a binary value byte for byte', () => {
    const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0x0a, 0x0d, 0x00, 0x7f]);
    expect(quiet(['secrets', 'set', 'BINARY'], binary).code).toBe(0);
    const get = run(['secrets', 'get', 'BINARY']);
    expect(get.stdoutBytes.equals(binary)).toBe(true);
    const json = JSON.parse(run(['secrets', 'get', 'BINARY', '--json']).stdout);
    expect(json).toMatchObject({ name: 'BINARY', encoding: 'base64', value: binary.toString('base64') });
  });

  it('lists names, revisions and generations, never values', () => {
    quiet(['secrets', 'set', 'API_KEY'], 'first');
    quiet(['secrets', 'set', 'API_KEY'], 'second');
    const list = quiet(['secrets', 'list', '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => Object.keys(r).sort())).toEqual(
      Array(3).fill(['createdAt', 'gen', 'name', 'rev', 'updatedAt']),
    );
    expect(rows.map((r) => [r.name, r.rev])).toEqual([
      ['API_KEY', 2],
      ['BINARY', 1],
      ['CANARY', 1],
    ]);
    const text = quiet(['secrets', 'list']);
    expect(text.stdout.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')).toBe(
      [
        'NAME     REV  GEN  UPDATED',
        'API_KEY  2    2    <time>',
        'BINARY   1    3    <time>',
        'CANARY   1    2    <time>',
        '',
      ].join('\n'),
    );
  });

  it('bumps gen on every read (a fresh data key each time)', () => {
    const gen = () =>
      (JSON.parse(quiet(['secrets', 'list', '--json']).stdout) as { name: string; gen: number }[]).find(
        (r) => r.name === 'API_KEY',
      )?.gen;
    const before = gen();
    expect(run(['secrets', 'get', 'API_KEY']).stdout).toBe('second');
    expect(run(['secrets', 'get', 'API_KEY']).stdout).toBe('second');
    expect(gen()).toBe((before ?? 0) + 2);
  });

  it.each([
    [
      ['secrets', 'set', 'bad-name'],
      'x',
      2,
      'Error: invalid secret name "bad-name" (a secret name is an environment variable name: a letter or _, then up to 127 letters, digits or _).\n',
    ],
    [
      ['secrets', 'get', '1ABC'],
      undefined,
      2,
      'Error: invalid secret name "1ABC" (a secret name is an environment variable name: a letter or _, then up to 127 letters, digits or _).\n',
    ],
    [
      ['secrets', 'list', '-n', 'Acme/Web'],
      undefined,
      2,
      'Error: invalid namespace "Acme/Web" (a namespace is 1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)).\n',
    ],
    [
      ['secrets', 'list', '-n', 'a/b/c/d'],
      undefined,
      2,
      'Error: invalid namespace "a/b/c/d" (a namespace is 1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)).\n',
    ],
    [
      ['secrets', 'list', '-n', '../etc'],
      undefined,
      2,
      'Error: invalid namespace "../etc" (a namespace is 1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)).\n',
    ],
    [
      ['secrets', 'get', 'NOPE'],
      undefined,
      1,
      'Error: secret not found in acme/web: NOPE (see what exists with `egg secrets list`).\n',
    ],
    [
      ['secrets', 'rm', 'NOPE'],
      undefined,
      1,
      'Error: secret not found in acme/web: NOPE (see what exists with `egg secrets list`).\n',
    ],
  ])('rejects %j with one clear sentence', (args, input, code, stderr) => {
    const result = quiet(args as string[], input as string | undefined);
    expect(result.code).toBe(code);
    expect(result.stderr).toBe(stderr);
  });

  it('refuses a value over 64 KiB and writes nothing', () => {
    const big = `${CANARY}${'x'.repeat(64 * 1024)}`;
    const result = quiet(['secrets', 'set', 'TOO_BIG'], big);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: the value is ${Buffer.byteLength(big)} bytes; values are at most 65536 bytes (64 KiB).\n`,
    );
    expect(
      JSON.parse(quiet(['secrets', 'list', '--json']).stdout).map((r: { name: string }) => r.name),
    ).not.toContain('TOO_BIG');
  });

  it('shows a stack trace only with EGG_DEBUG=1', () => {
    const plain = run(['secrets', 'get', 'NOPE']);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = run(['secrets', 'get', 'NOPE'], undefined, { EGG_DEBUG: '1' });
    expect(debug.stderr).toMatch(/\n\s+at /);
    outputs.push(debug.stderr);
  });

  it.runIf(POSIX)(
    'writes --out files with mode 0600 and refuses to write through a symlink (POSIX modes only)',
    () => {
      const out = join(base, 'pulled.env');
      const result = run(['secrets', 'pull', 'API_KEY', '--out', out]);
      expect(result.code).toBe(0);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      expect(readFileSync(out, 'utf8')).toContain('API_KEY=');
      const target = join(base, 'elsewhere');
      writeFileSync(target, '');
      const link = join(base, 'link.env');
      symlinkSync(target, link);
      const refused = quiet(['secrets', 'pull', 'API_KEY', '--out', link]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(
        `Error: ${link} is a symlink; refusing to write secrets through it (remove it, then try again).\n`,
      );
      expect(readFileSync(target, 'utf8')).toBe('');
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
    },
  );

  it.runIf(POSIX)(
    'refuses to write secrets over a FIFO planted at --out, and leaves it in place (mkfifo: POSIX only)',
    () => {
      const fifo = join(base, 'planted.fifo');
      execFileSync('mkfifo', [fifo]);
      const refused = quiet(['secrets', 'pull', 'API_KEY', '--out', fifo]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(
        `Error: ${fifo} is a FIFO; refusing to write secrets through it (remove it, then try again).\n`,
      );
      expect(lstatSync(fifo).isFIFO()).toBe(true);
    },
  );

  it('removes secrets', () => {
    expect(quiet(['secrets', 'rm', 'BINARY'])).toMatchObject({
      code: 0,
      stdout: 'Removed BINARY from acme/web.\n',
    });
  });

  it('injects secrets into egg run and masks them in stdout and stderr, even written a byte at a time', () => {
    const script =
      'const v = process.env.CANARY; for (const c of v) process.stdout.write(c); process.stdout.write("\\n"); console.error("err:" + v);';
    const result = quiet(['run', '--', process.execPath, '-e', script]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('***\n');
    expect(result.stderr).toBe('err:***\n');
  });

  it.runIf(POSIX)(
    "exits with the child's code, and 127 for a command that does not exist (runs sh: POSIX only)",
    () => {
      expect(quiet(['run', '--', 'sh', '-c', 'exit 42']).code).toBe(42);
      const missing = quiet(['run', '--', 'no-such-command-egg']);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toBe('Error: command not found: no-such-command-egg.\n');
      const usage = quiet(['run']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toBe('Error: no command given (put it after --, as in `egg run -- npm start`).\n');
    },
  );

  it.runIf(POSIX)(
    'shows values with --no-mask, and injects only what --only names (runs sh: POSIX only)',
    () => {
      const result = run([
        'run',
        '--no-mask',
        '--only',
        'API_KEY',
        '--',
        'sh',
        '-c',
        'echo "$API_KEY|${CANARY:-unset}"',
      ]);
      expect(result).toMatchObject({ code: 0, stdout: 'second|unset\n' });
    },
  );

  it('keeps an intact, value-free audit trail', () => {
    const verify = quiet(['audit', 'verify', '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, namespace: 'acme/web' });
    const audit = quiet(['audit', '--json']);
    const records = JSON.parse(audit.stdout) as { action: string; targets: string[]; actor: string }[];
    expect(records.find((r) => r.action === 'set' && r.targets[0] === 'CANARY')?.actor).toMatch(/^user:/);
  });

  it.runIf(POSIX)(
    'refuses a vault whose permissions are too open, and says how to fix it (POSIX modes only)',
    () => {
      chmodSync(home, 0o755);
      try {
        const result = quiet(['secrets', 'list']);
        expect(result.code).toBe(1);
        expect(result.stderr).toBe(
          `Error: ${home} is open to other users (mode 0755); refusing to use it (run \`chmod 700 ${home}\`).\n`,
        );
      } finally {
        chmodSync(home, 0o700);
      }
      chmodSync(join(home, 'kek'), 0o644);
      try {
        const result = quiet(['secrets', 'get', 'API_KEY']);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(`${join(home, 'kek')} is open to other users (mode 0644)`);
      } finally {
        chmodSync(join(home, 'kek'), 0o600);
      }
    },
  );

  it('never shows the canary anywhere it was not asked for, nor stores it in plain text', () => {
    const files = [readFileSync(join(home, 'vault.db'))];
    for (const suffix of ['-wal', '-shm']) {
      try {
        files.push(readFileSync(join(home, `vault.db${suffix}`)));
      } catch {}
    }
    for (const file of files) expect(findLeaks(file, CANARY)).toEqual([]);
    for (const output of outputs) expect(findLeaks(output, CANARY)).toEqual([]);
    expect(outputs.length).toBeGreaterThan(20);
  });
});
