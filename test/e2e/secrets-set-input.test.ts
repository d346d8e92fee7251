/**
 * Where `egg secrets set` takes a value from, so that it never lands in shell history or on
 * screen (issue 12, items 5 and 6): a hidden prompt on a real terminal (util-linux `script`
 * makes one), `--from-env`, and `--from-file` that names what is wrong with the file.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/run/run.js';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';

const CANARY = 'egg-canary-typed-7c41';

/**
 * Run `line` on a terminal, type `keys` once `ready` shows on it, and resolve with what the
 * terminal showed and the exit status `script` passes through.
 */
function typeAt(line: string, ready: string, keys: string, env: NodeJS.ProcessEnv) {
  const child = spawn('script', ['-q', '-e', '-c', line, '/dev/null'], {
    env: { ...process.env, ...env, TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let screen = '';
  let typed = false;
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString();
    if (!typed && screen.includes(ready)) {
      typed = true;
      child.stdin.write(keys);
    }
  });
  return new Promise<{ screen: string; code: number | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      child.stdin.end();
      resolve({ screen, code });
    });
  });
}

describe('egg secrets set: values in, never on screen or in history', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  const eggLine = `${shellQuote(process.execPath)} ${shellQuote(EGG_BIN)}`;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-set-input-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
    expect(egg(['init'], { env, cwd: base }).code).toBe(0);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  describe.runIf(process.platform === 'linux')('on a terminal', () => {
    it('prompts without echoing what is typed, and stores the line without its Enter', async () => {
      const { screen, code } = await typeAt(
        `${eggLine} secrets set TYPED_KEY`,
        'Value for TYPED_KEY',
        `${CANARY}\r`,
        env,
      );
      expect(code).toBe(0);
      expect(screen).toContain('Value for TYPED_KEY (not shown; Enter to finish, Ctrl-C to cancel): ');
      expect(screen).toContain('Set TYPED_KEY in acme/web (rev 1).');
      expect(findLeaks(screen, CANARY)).toEqual([]);
      const got = egg(['secrets', 'get', 'TYPED_KEY'], { env, cwd: base });
      expect(got.stdout).toBe(CANARY);
    });

    it('stores nothing and exits 130 on Ctrl-C at the prompt', async () => {
      const { screen, code } = await typeAt(
        `${eggLine} secrets set CANCELLED_KEY`,
        'Value for CANCELLED_KEY',
        `${CANARY}\x03`,
        env,
      );
      expect(code).toBe(130);
      expect(screen).toContain('Error: cancelled at the prompt; nothing was stored.');
      expect(findLeaks(screen, CANARY)).toEqual([]);
      const got = egg(['secrets', 'get', 'CANCELLED_KEY'], { env, cwd: base });
      expect(got.code).toBe(1);
    });
  });

  it('reads --from-env, and refuses an unset variable with exit 2, storing nothing', () => {
    const set = egg(['secrets', 'set', 'ENV_KEY', '--from-env', 'EGG_TEST_VALUE'], {
      env: { ...env, EGG_TEST_VALUE: CANARY },
      cwd: base,
    });
    expect(set.code).toBe(0);
    expect(findLeaks(set.stdout + set.stderr, CANARY)).toEqual([]);
    expect(egg(['secrets', 'get', 'ENV_KEY'], { env, cwd: base }).stdout).toBe(CANARY);

    const unset = egg(['secrets', 'set', 'UNSET_KEY', '--from-env', 'EGG_NOT_SET_ANYWHERE'], {
      env,
      cwd: base,
    });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toBe(
      'Error: --from-env EGG_NOT_SET_ANYWHERE: no such variable is set (export EGG_NOT_SET_ANYWHERE first, or pick the variable that holds the value).\n',
    );
    expect(egg(['secrets', 'get', 'UNSET_KEY'], { env, cwd: base }).code).toBe(1);
  });

  it('says what is wrong with --from-file (missing, a directory) and exits 2, storing nothing', () => {
    const missing = join(base, 'no-such-file.txt');
    const gone = egg(['secrets', 'set', 'FILE_KEY', '--from-file', missing], { env, cwd: base });
    expect([gone.code, gone.stderr]).toEqual([
      2,
      `Error: --from-file ${missing}: no such file; nothing was stored.\n`,
    ]);
    const dir = join(base, 'a-dir');
    mkdirSync(dir);
    const isDir = egg(['secrets', 'set', 'FILE_KEY', '--from-file', dir], { env, cwd: base });
    expect([isDir.code, isDir.stderr]).toEqual([
      2,
      `Error: --from-file ${dir}: it is a directory; nothing was stored.\n`,
    ]);
    expect(egg(['secrets', 'get', 'FILE_KEY'], { env, cwd: base }).code).toBe(1);
  });

  it('refuses two sources at once', () => {
    const both = egg(['secrets', 'set', 'BOTH', '--from-env', 'HOME', '--from-file', '/etc/hostname'], {
      env,
      cwd: base,
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--from-file=/etc/hostname cannot also be provided when using --from-env');
  });

  it('shows no example that puts a value in shell history: README, docs, the demo and --help', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const docs = readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f));
    const sources = ['README.md', 'SECURITY.md', 'scripts/demo.js', ...docs].map((file) => ({
      file,
      text: readFileSync(join(root, file), 'utf8'),
    }));
    const help = egg(['secrets', 'set', '--help'], { env, cwd: base });
    expect(help.code).toBe(0);
    sources.push({ file: 'egg secrets set --help', text: help.stdout });
    // A literal after <<<, or a quoted literal (not a "$VARIABLE") piped into egg, is in history.
    const inHistory = [/secrets set[^\n]*<<</, /\b(printf|echo)\b[^|\n]*'[^'$\n]*'[^|\n]*\|\s*egg\b/];
    const offenders = sources.flatMap(({ file, text }) =>
      text
        .split('\n')
        .filter((line) => inHistory.some((pattern) => pattern.test(line)))
        .map((line) => `${file}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
    expect(help.stdout).toContain('--from-env');
  });
});
