/**
 * oclif's conventions in `egg`, run as a user runs it: `egg help` and `-h` on every command
 * and topic, "did you mean" for a mistyped command (which runs nothing), and shell completion
 * for bash, zsh, fish and PowerShell from `egg autocomplete`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/index.js';
import { egg } from '../support/cli.js';

/** The commands `egg help` shows (the autocomplete cache builder and script line are hidden). */
const VISIBLE = Object.keys(COMMANDS).filter(
  (id) => id !== 'autocomplete:create' && id !== 'autocomplete:script',
);
const TOPICS = [...new Set(VISIBLE.filter((id) => id.includes(':')).map((id) => id.split(':')[0] as string))];
/** Topics that are no command too (`egg audit -h` is the help of the command `audit`). */
const PURE_TOPICS = TOPICS.filter((topic) => !VISIBLE.includes(topic));
const words = (id: string) => id.split(':').join(' ');
const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;

/** True when `shell` runs here (bash and fish are asked to complete a command in a subprocess). */
function hasShell(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0']).status === 0;
}

describe('egg help and -h', () => {
  it('egg help lists every topic and every top-level command', () => {
    const result = egg(['help']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    for (const topic of TOPICS) expect(result.stdout).toMatch(new RegExp(`^  ${topic} `, 'm'));
    for (const id of VISIBLE.filter((id) => !id.includes(':'))) {
      expect(result.stdout).toMatch(new RegExp(`^  ${id} `, 'm'));
    }
    expect(egg(['-h']).stdout).toBe(result.stdout);
    expect(egg(['help', '-h']).stdout).toBe(result.stdout);
    expect(egg([]).stdout).toBe(result.stdout);
  });

  it.each(PURE_TOPICS)('egg %s -h lists the commands of the topic, as egg help does', (topic) => {
    const result = egg([topic, '-h']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    // A command a level further down (`alerts rules set`) is listed under its topic (`alerts rules`).
    for (const id of VISIBLE.filter((id) => id.startsWith(`${topic}:`))) {
      expect(result.stdout).toContain(`  ${words(id).split(' ').slice(0, 2).join(' ')} `);
    }
    expect(egg(['help', topic]).stdout).toBe(result.stdout);
  });

  // `egg help -h` is the root help (oclif takes -h before the command), checked above.
  const commands = VISIBLE.filter((id) => id !== 'help').map(words);
  it.each(commands)('egg %s -h shows its usage, the same as --help and egg help', (command) => {
    const args = command.split(' ');
    const result = egg([...args, '-h']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^USAGE\\n  \\$ egg ${command}\\b`, 'm'));
    expect(egg([...args, '--help']).stdout).toBe(result.stdout);
    expect(egg(['help', ...args]).stdout).toBe(result.stdout);
  });
});

describe('a mistyped command', () => {
  let home: string;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'egg-not-found-'));
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('says "did you mean" and exits 127 without running anything', () => {
    const vault = join(home, 'never-made');
    const result = egg(['secrets', 'lsit'], { env: { EGG_HOME: vault } });
    expect(result.code).toBe(127);
    expect(result.stdout).toBe('');
    expect(result.stderr.replaceAll(/\s*›\s*/g, ' ')).toContain(
      '"egg secrets lsit" is not a command. Did you mean "egg secrets list"? "egg help secrets" lists them.',
    );
    expect(existsSync(vault)).toBe(false);
  });

  it('a mistyped `secrets rm` (rn) deletes nothing, with or without a terminal to confirm on', () => {
    const env = { EGG_HOME: join(home, 'vault'), EGG_NAMESPACE: 'acme/web' };
    expect(egg(['secrets', 'set', 'KEEP'], { env, input: 'kept' }).code).toBe(0);
    const result = egg(['secrets', 'rn', 'KEEP'], { env, input: 'y\n' });
    expect(result.code).toBe(127);
    expect(result.stderr.replaceAll(/\s*›\s*/g, ' ')).toContain('Did you mean "egg secrets rm"?');
    expect(egg(['secrets', 'get', 'KEEP'], { env })).toMatchObject({ code: 0, stdout: 'kept' });
  });

  it('suggests nothing for a word far from every command', () => {
    const result = egg(['frobnicate']);
    expect(result.code).toBe(127);
    expect(result.stderr.replaceAll(/\s*›\s*/g, ' ')).toContain(
      '"egg frobnicate" is not a command. "egg help" lists them.',
    );
    expect(result.stderr).not.toContain('Did you mean');
  });
});

describe('egg autocomplete', () => {
  let cache: string;
  const env = () => ({ EGG_CACHE_DIR: cache });
  beforeAll(() => {
    cache = mkdtempSync(join(tmpdir(), 'egg-autocomplete-'));
  });
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  /** The file a shell's start-up line (`egg autocomplete script SHELL`) loads completion from. */
  const FILES: Record<(typeof SHELLS)[number], string> = {
    bash: 'functions/bash/egg.bash',
    zsh: 'functions/zsh/_egg',
    fish: 'functions/fish/egg.fish',
    powershell: 'functions/powershell/egg.ps1',
  };

  it.each(SHELLS)('writes %s completion naming every command, and the line that loads it', (shell) => {
    const result = egg(['autocomplete', shell], { env: env() });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`egg autocomplete script ${shell}`);
    const script = readFileSync(join(cache, 'autocomplete', FILES[shell]), 'utf8');
    for (const id of VISIBLE) {
      // bash lists ids with colons, zsh and PowerShell by word, fish one word at a time.
      const last = id.split(':').at(-1) as string;
      expect(script).toContain(shell === 'bash' ? id : last);
    }
    const line = egg(['autocomplete', 'script', shell], { env: env() });
    expect(line.code).toBe(0);
    // bash's and zsh's line names the setup file, which names the completion file.
    expect(line.stdout).toContain(join(cache, 'autocomplete'));
  });

  it.skipIf(process.platform === 'win32' || !hasShell('bash'))(
    'bash completes `egg secrets li` to `list` and `egg secrets list --` to its flags (needs bash; not on Windows runners, whose bash wants POSIX paths)',
    () => {
      expect(egg(['autocomplete', 'bash'], { env: env() }).code).toBe(0);
      const setup = egg(['autocomplete', 'script', 'bash'], { env: env() }).stdout;
      const complete = (line: string) => {
        const cwords = line.split(' ');
        const script = `${setup}
COMP_WORDS=(${cwords.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${cwords.length - 1}
COMP_LINE='${line}'; COMP_POINT=\${#COMP_LINE}
_egg_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`;
        const result = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8' });
        expect(result.stderr).toBe('');
        return [...new Set(result.stdout.split('\n').filter(Boolean))].sort();
      };
      expect(complete('egg secrets li')).toEqual(['list']);
      expect(complete('egg sec')).toEqual(['secrets']);
      expect(complete('egg secrets list --')).toEqual(['--backend', '--json', '--namespace']);
    },
  );

  it.skipIf(!hasShell('fish'))(
    'fish completes `egg secrets li` to `list`, and --backend to its values (needs fish, which CI runners do not ship)',
    () => {
      expect(egg(['autocomplete', 'fish'], { env: env() }).code).toBe(0);
      const setup = egg(['autocomplete', 'script', 'fish'], { env: env() }).stdout;
      const complete = (line: string) => {
        const result = spawnSync('fish', ['--no-config', '-c', `${setup}\ncomplete -C '${line}'`], {
          encoding: 'utf8',
        });
        expect(result.stderr).toBe('');
        return result.stdout
          .split('\n')
          .filter(Boolean)
          .map((row) => row.split('\t')[0]);
      };
      expect(complete('egg secrets li')).toEqual(['list']);
      expect(complete('egg secrets list --backend ')).toEqual(['api', 'aws', 'local']);
      expect(complete('egg au')).toEqual(['audit', 'autocomplete']);
      expect(complete('egg audit --')).not.toContain('--fix');
    },
  );
});
