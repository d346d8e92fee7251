/**
 * `.egg.json` is read only from the current directory or the repository root, only when it is
 * a regular file of the user's that nobody else can write, and its routing settings (where
 * secrets go or come from) apply only after `egg trust` (issue 9, item 11).
 */
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { laptopChecks } from '../../src/doctor/laptop.js';
import { resolveLoginSettings } from '../../src/login/settings.js';
import { TRUST_FILE, revokeTrust, trustProjectFile } from '../../src/trust.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let base: string;
let home: string;
let repo: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'egg-config-trust-'));
  home = join(base, 'home');
  // base/outer/repo is a git repository two levels below base.
  repo = join(base, 'outer', 'repo');
  mkdirSync(join(repo, '.git'), { recursive: true });
  mkdirSync(join(repo, 'sub', 'deeper'), { recursive: true });
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const resolveIn = (cwd: string, env: NodeJS.ProcessEnv = {}) => resolveConfig({ env, cwd, home });
const write = (path: string, settings: object, mode = 0o644) => {
  writeFileSync(path, `${JSON.stringify(settings)}\n`);
  chmodSync(path, mode);
  return path;
};
const failure = (action: () => unknown) => {
  try {
    action();
  } catch (error) {
    const { code, message, hint } = error as { code?: string; message: string; hint?: string };
    return { code, message, hint };
  }
  throw new Error('expected it to throw');
};

describe('where .egg.json is read from', () => {
  it('ignores a world-writable .egg.json two levels above the repository', () => {
    write(join(base, '.egg.json'), { namespace: 'attacker/ns' }, 0o666);
    chmodSync(join(base, '.egg.json'), 0o666);
    expect(resolveIn(repo).namespace).toBe('default');
    expect(resolveIn(join(repo, 'sub', 'deeper')).namespace).toBe('default');
  });

  it('ignores a .egg.json in a parent directory when there is no repository', () => {
    const plain = join(base, 'plain', 'work');
    mkdirSync(plain, { recursive: true });
    write(join(base, 'plain', '.egg.json'), { namespace: 'attacker/ns' });
    expect(resolveIn(plain).namespace).toBe('default');
  });

  it.runIf(isRoot)('ignores the .egg.json of a repository whose .git belongs to another user', () => {
    const file = write(join(repo, '.egg.json'), { oidcScopes: 'openid attacker' });
    chownSync(join(repo, '.git'), NOBODY, NOBODY);
    expect(resolveIn(join(repo, 'sub')).oidcScopes).toBeUndefined();
    // In the directory itself it is the current directory's file, read as such.
    expect(resolveIn(repo).oidcScopes).toBe('openid attacker');
    expect(readFileSync(file, 'utf8')).toContain('attacker');
  });

  it('reads settings that need no trust from the repository root and from the current directory', () => {
    write(join(repo, '.egg.json'), { oidcScopes: 'openid root' });
    expect(resolveIn(join(repo, 'sub', 'deeper')).oidcScopes).toBe('openid root');
    write(join(repo, 'sub', '.egg.json'), { oidcScopes: 'openid sub' });
    expect(resolveIn(join(repo, 'sub')).oidcScopes).toBe('openid sub');
    expect(resolveIn(join(repo, 'sub', 'deeper')).oidcScopes).toBe('openid root');
  });
});

describe('what .egg.json may be', () => {
  it('refuses a group-writable .egg.json in the repository root', () => {
    const file = write(join(repo, '.egg.json'), { oidcScopes: 'openid' }, 0o664);
    expect(failure(() => resolveIn(join(repo, 'sub')))).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} is writable by other users (mode 0664); refusing to read settings from it`,
      hint: `check it, then run \`chmod go-w ${file}\``,
    });
  });

  it('refuses a world-writable .egg.json in the current directory', () => {
    const file = write(join(repo, 'sub', '.egg.json'), { oidcScopes: 'openid' }, 0o646);
    expect(failure(() => resolveIn(join(repo, 'sub')))).toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} is writable by other users (mode 0646); refusing to read settings from it`,
    });
  });

  it.runIf(isRoot)('refuses a .egg.json owned by another user', () => {
    const file = write(join(repo, '.egg.json'), { oidcScopes: 'openid' });
    chownSync(file, NOBODY, NOBODY);
    expect(failure(() => resolveIn(repo))).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} belongs to another user (uid ${NOBODY}); egg reads settings only from your own files`,
      hint: `remove it, or check it and take it over with \`chown ${process.getuid?.()} ${file}\``,
    });
  });

  it('refuses a .egg.json that is a symlink to a file elsewhere', () => {
    const elsewhere = write(join(base, 'elsewhere.json'), { namespace: 'attacker/ns' });
    const file = join(repo, '.egg.json');
    symlinkSync(elsewhere, file);
    expect(failure(() => resolveIn(repo))).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} is a symlink; egg reads settings only from a regular file`,
      hint: 'replace the link with a copy of the file it points to',
    });
  });

  it('refuses a directory named .egg.json', () => {
    const file = join(repo, '.egg.json');
    mkdirSync(file);
    expect(failure(() => resolveIn(repo))).toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} is a directory, not a regular file; refusing to read settings from it`,
    });
  });

  it('refuses an oversized .egg.json', () => {
    const file = join(repo, '.egg.json');
    writeFileSync(file, `{"oidcScopes": "openid${' '.repeat(70_000)}"}`);
    expect(failure(() => resolveIn(repo))).toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: `${file} is larger than 64 KiB; refusing to read it as settings`,
    });
  });

  it('refuses an unknown setting, naming it and the file', () => {
    const file = write(join(repo, '.egg.json'), { nameSpace: 'acme/web' });
    expect(failure(() => resolveIn(repo))).toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: `${file}: unknown setting "nameSpace"`,
    });
  });

  it('refuses a group-writable user config', () => {
    mkdirSync(home, { mode: 0o700 });
    const file = write(join(home, 'config.json'), { oidcScopes: 'openid' }, 0o620);
    expect(failure(() => resolveIn(base))).toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} is writable by other users (mode 0620); refusing to read settings from it`,
    });
  });
});

describe('routing settings need egg trust', () => {
  it('refuses a namespace from an untrusted .egg.json instead of sending secrets elsewhere', () => {
    const file = write(join(repo, '.egg.json'), {
      namespace: 'acme/web',
      table: 'egg-prod',
      rotation: 'inline',
    });
    expect(failure(() => resolveIn(join(repo, 'sub')))).toEqual({
      code: 'ERR_UNTRUSTED_CONFIG',
      message: `${file} sets namespace, rotation and table, which egg takes only from a file you trust`,
      hint: 'check it, then run `egg trust`',
    });
  });

  it('refuses an api URL from an untrusted .egg.json, which would send the bearer and every value elsewhere', () => {
    const file = write(join(repo, '.egg.json'), { backend: 'api', apiUrl: 'https://attacker.example' });
    expect(failure(() => resolveIn(repo))).toEqual({
      code: 'ERR_UNTRUSTED_CONFIG',
      message: `${file} sets backend and apiUrl, which egg takes only from a file you trust`,
      hint: 'check it, then run `egg trust`',
    });
    trustProjectFile({ cwd: repo, home });
    expect(resolveIn(repo)).toMatchObject({ backend: 'api', apiUrl: 'https://attacker.example' });
    expect(resolveIn(repo, { EGG_API_URL: 'https://egg.example.com' })).toMatchObject({
      apiUrl: 'https://egg.example.com',
      sources: { apiUrl: 'EGG_API_URL', backend: file },
    });
  });

  it('names the source of a bad value: the .egg.json it came from', () => {
    const file = write(join(repo, '.egg.json'), { oidcRedirectPort: 'x', backend: 'cloud' });
    trustProjectFile({ cwd: repo, home });
    expect(failure(() => resolveIn(repo))).toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: `unknown backend "cloud" (from ${file})`,
    });
    expect(failure(() => resolveIn(repo, { EGG_BACKEND: 'cloud' }))).toMatchObject({
      message: 'unknown backend "cloud" (from EGG_BACKEND)',
    });
    // A flag the user has just typed needs no naming.
    expect(
      failure(() => resolveConfig({ flags: { backend: 'cloud' }, env: {}, cwd: repo, home })),
    ).toMatchObject({ message: 'unknown backend "cloud"' });
  });

  it('names the .egg.json a bad login setting came from', () => {
    const file = write(join(repo, '.egg.json'), {
      oidcIssuer: 'http://login.example.com',
      oidcClientId: 'egg',
      roleArn: 'egg-people',
    });
    trustProjectFile({ cwd: repo, home });
    expect(failure(() => resolveLoginSettings(resolveIn(repo), {}))).toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: `the OIDC issuer "http://login.example.com" must use https (from ${file})`,
    });
    expect(
      failure(() =>
        resolveLoginSettings(resolveIn(repo, { EGG_OIDC_ISSUER: 'https://login.example.com' }), {}),
      ),
    ).toMatchObject({ message: `"egg-people" is not an IAM role ARN (from ${file})` });
  });

  it('applies them once the file is trusted, from the repository root and below', () => {
    write(join(repo, '.egg.json'), { namespace: 'acme/web', table: 'egg-prod' });
    const trusted = trustProjectFile({ cwd: join(repo, 'sub'), home });
    expect(trusted).toMatchObject({
      path: join(repo, '.egg.json'),
      status: 'trusted',
      routing: { namespace: 'acme/web', table: 'egg-prod' },
    });
    expect(resolveIn(join(repo, 'sub', 'deeper'))).toMatchObject({
      namespace: 'acme/web',
      table: 'egg-prod',
    });
    expect(readFileSync(join(home, TRUST_FILE), 'utf8')).toContain(trusted.sha256);
  });

  it('lets flags and EGG_* override an untrusted file’s routing settings', () => {
    write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    expect(resolveIn(repo, { EGG_NAMESPACE: 'mine/ns' }).namespace).toBe('mine/ns');
  });

  it('refuses a trusted .egg.json edited afterwards until it is trusted again', () => {
    const file = write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    trustProjectFile({ cwd: repo, home });
    expect(resolveIn(repo).namespace).toBe('acme/web');
    write(file, { namespace: 'attacker/ns' });
    expect(failure(() => resolveIn(repo))).toEqual({
      code: 'ERR_UNTRUSTED_CONFIG',
      message: `${file} changed since you trusted it, and it sets namespace`,
      hint: 'check it, then run `egg trust` again',
    });
    trustProjectFile({ cwd: repo, home });
    expect(resolveIn(repo).namespace).toBe('attacker/ns');
  });

  it('does not carry trust to the same content in another repository', () => {
    write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    trustProjectFile({ cwd: repo, home });
    const other = join(base, 'other');
    mkdirSync(join(other, '.git'), { recursive: true });
    const copy = write(join(other, '.egg.json'), { namespace: 'acme/web' });
    expect(failure(() => resolveIn(other))).toMatchObject({
      code: 'ERR_UNTRUSTED_CONFIG',
      message: `${copy} sets namespace, which egg takes only from a file you trust`,
    });
  });

  it('will not trust a file that others can write', () => {
    const file = write(join(repo, '.egg.json'), { namespace: 'acme/web' }, 0o666);
    expect(failure(() => trustProjectFile({ cwd: repo, home }))).toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${file} is writable by other users (mode 0666); refusing to read settings from it`,
    });
  });

  it('forgets a file on revoke', () => {
    const file = write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    trustProjectFile({ cwd: repo, home });
    expect(revokeTrust({ cwd: repo, home })).toEqual({ path: file, revoked: true });
    expect(failure(() => resolveIn(repo))).toMatchObject({ code: 'ERR_UNTRUSTED_CONFIG' });
    expect(revokeTrust({ cwd: repo, home })).toEqual({ path: file, revoked: false });
  });

  it('refuses a trust file planted as a symlink', () => {
    const file = write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    const trusted = trustProjectFile({ cwd: repo, home });
    const planted = join(base, 'planted.json');
    writeFileSync(planted, readFileSync(join(home, TRUST_FILE)));
    chmodSync(planted, 0o600);
    rmSync(join(home, TRUST_FILE));
    symlinkSync(planted, join(home, TRUST_FILE));
    expect(failure(() => resolveIn(repo))).toEqual({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${join(home, TRUST_FILE)} is a symlink; egg reads trusted projects only from a regular file`,
      hint: 'replace the link with a copy of the file it points to',
    });
    // Nor does `egg trust` write through it.
    expect(failure(() => trustProjectFile({ cwd: repo, home }))).toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
    });
    expect(readFileSync(planted, 'utf8')).toContain(trusted.sha256);
    expect(file).toBe(trusted.path);
  });

  it('refuses a trust file that other users can read or write', () => {
    write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    trustProjectFile({ cwd: repo, home });
    chmodSync(join(home, TRUST_FILE), 0o644);
    expect(failure(() => resolveIn(repo))).toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: `${join(home, TRUST_FILE)} is open to other users (mode 0644); refusing to read trusted projects from it`,
    });
  });
});

describe('egg doctor and the project file', () => {
  it('fails the configuration check on an untrusted .egg.json and says to run egg trust', async () => {
    const file = write(join(repo, '.egg.json'), { namespace: 'acme/web' });
    const checks = await laptopChecks({ flags: {}, env: { EGG_HOME: home }, cwd: repo });
    expect(checks).toEqual([
      {
        name: 'configuration',
        status: 'fail',
        detail: `${file} sets namespace, which egg takes only from a file you trust`,
        fix: 'check it, then run `egg trust`',
      },
    ]);
  });

  it('names the trusted .egg.json and the settings it gives', async () => {
    const file = write(join(repo, '.egg.json'), { namespace: 'acme/web', oidcScopes: 'openid' });
    trustProjectFile({ cwd: repo, home });
    const [configuration] = await laptopChecks({
      flags: {},
      env: { EGG_HOME: home },
      cwd: join(repo, 'sub'),
    });
    expect(configuration).toEqual({
      name: 'configuration',
      status: 'ok',
      detail: `backend local, namespace acme/web, keyring local, project file ${file} (trusted: namespace), EGG_HOME ${home}`,
    });
  });
});
