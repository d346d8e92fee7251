/**
 * The refresh token in the OS keychain: `secret-tool` (libsecret, Linux) and `security`
 * (macOS), played by a fake on PATH that keeps items in a directory and records its
 * command lines, so the tests can show the token never appears on one.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jsonLogger } from '../../src/log.js';
import { REFRESH_TOKEN_FILE } from '../../src/login/files.js';
import { type LoginDeps, login, logout, sessionCredentials, whoami } from '../../src/login/login.js';
import type { LoginSettings } from '../../src/login/settings.js';
import { detectTokenStore } from '../../src/login/token-store.js';
import { findLeaks } from '../support/cli.js';
import { type FakeIssuer, startFakeIssuer } from '../support/fake-issuer.js';
import { type FakeSts, startFakeSts } from '../support/fake-sts.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-people';

/** One script for both tools: items are files named for their attributes; argv goes to a log. */
const FAKE_TOOL = `
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.FAKE_KEYRING_DIR;
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
fs.appendFileSync(path.join(dir, 'argv.log'), tool + ' ' + args.join(' ') + '\\n');
const stdin = fs.readFileSync(0, 'utf8');
const item = (key) => path.join(dir, 'item-' + Buffer.from(key).toString('hex').slice(0, 200));
if (process.env.FAKE_KEYRING_FAIL === '1') process.exit(5);
if (tool === 'secret-tool') {
  const [cmd, ...rest] = args;
  const attrs = rest.filter((a) => !a.startsWith('--label=')).join(' ');
  if (cmd === 'store') fs.writeFileSync(item(attrs), stdin);
  else if (cmd === 'lookup') { if (!fs.existsSync(item(attrs))) process.exit(1); process.stdout.write(fs.readFileSync(item(attrs))); }
  else if (cmd === 'clear') fs.rmSync(item(attrs), { force: true });
  else process.exit(2);
} else {
  const flag = (list, name) => list[list.indexOf(name) + 1];
  if (args[0] === '-i') {
    const words = stdin.trim().split(' ');
    if (words[0] !== 'add-generic-password') process.exit(2);
    fs.writeFileSync(item(flag(words, '-s') + ' ' + flag(words, '-a')), Buffer.from(flag(words, '-X'), 'hex'));
  } else if (args[0] === 'find-generic-password') {
    const file = item(flag(args, '-s') + ' ' + flag(args, '-a'));
    if (!fs.existsSync(file)) process.exit(44);
    process.stdout.write(fs.readFileSync(file, 'utf8') + '\\n');
  } else if (args[0] === 'delete-generic-password') {
    const file = item(flag(args, '-s') + ' ' + flag(args, '-a'));
    if (!fs.existsSync(file)) process.exit(44);
    fs.rmSync(file);
  } else process.exit(2);
}
`;

describe('refresh token in the OS keychain', () => {
  let issuer: FakeIssuer;
  let sts: FakeSts;
  let base: string;
  let bin: string;
  let keyring: string;
  let home: string;
  let offset = 0;
  let logLines: string[];
  const settings = (): LoginSettings => ({
    issuer: issuer.issuer,
    clientId: issuer.clientId,
    scopes: 'openid email offline_access',
    roleArn: ROLE,
    region: 'us-east-1',
    durationSeconds: 3600,
    redirectPort: 0,
  });
  const deps = (
    platform: NodeJS.Platform,
    env: NodeJS.ProcessEnv = {},
  ): LoginDeps & { onPrompt: () => void } => ({
    now: () => new Date(Date.now() + offset),
    sleep: async (ms) => {
      offset += ms;
    },
    platform,
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      FAKE_KEYRING_DIR: keyring,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      ...(platform === 'linux' ? { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' } : {}),
      ...env,
    },
    logger: jsonLogger({ debug: true, write: (line) => logLines.push(line) }),
    onPrompt: () => {},
  });
  const items = () => readdirSync(keyring).filter((f) => f.startsWith('item-'));
  const itemValue = () => readFileSync(join(keyring, items()[0] as string), 'utf8').trim();

  beforeAll(async () => {
    const clock = () => Date.now() + offset;
    issuer = await startFakeIssuer({ now: clock });
    sts = await startFakeSts({
      now: clock,
      providers: [{ issuer: issuer.issuer, jwksUrl: issuer.jwksUri, audiences: [issuer.clientId] }],
      roles: [{ arn: ROLE, sub: ['user-*'], aud: issuer.clientId }],
    });
    base = mkdtempSync(join(tmpdir(), 'egg-keychain-'));
    bin = join(base, 'bin');
    mkdirSync(bin);
    for (const tool of ['secret-tool', 'security']) {
      const path = join(bin, tool);
      writeFileSync(path, `#!${process.execPath}\n${FAKE_TOOL}`);
      chmodSync(path, 0o755);
    }
  });
  beforeEach(() => {
    offset = 0;
    logLines = [];
    home = mkdtempSync(join(base, 'home-'));
    keyring = mkdtempSync(join(base, 'keyring-'));
  });
  afterAll(async () => {
    await Promise.all([issuer.close(), sts.close()]);
    rmSync(base, { recursive: true, force: true });
  });

  it.each([
    ['linux', 'secret-tool', 'the Secret Service keyring (secret-tool)'],
    ['darwin', 'keychain', 'the macOS login keychain'],
  ] as const)(
    'on %s keeps it in %s, never on a command line, and rotates it there',
    async (platform, kind, location) => {
      const me = await login(home, settings(), deps(platform));
      expect(me.tokenStore).toBe(location);
      expect(
        detectTokenStore({ home, issuer: issuer.issuer, clientId: issuer.clientId, ...deps(platform) }).kind,
      ).toBe(kind);
      expect(existsSync(join(home, REFRESH_TOKEN_FILE))).toBe(false);
      const first = itemValue();
      expect(issuer.liveRefreshTokens.has(first)).toBe(true);

      offset += 56 * 60_000;
      await sessionCredentials(home, deps(platform));
      const second = itemValue();
      expect(second).not.toBe(first);
      expect(issuer.liveRefreshTokens.has(second)).toBe(true);
      expect(whoami(home, deps(platform))?.tokenStore).toBe(location);

      const report = await logout(home, deps(platform));
      expect(report).toMatchObject({
        revocation: 'revoked',
        deleted: [`refresh token (${location})`, expect.any(String)],
      });
      expect(issuer.revoked).toContain(second);
      expect(items()).toEqual([]);

      const argv = readFileSync(join(keyring, 'argv.log'), 'utf8');
      for (const token of [first, second]) expect(findLeaks(argv, token)).toEqual([]);
      // The macOS add went through `security -i` (stdin), not `-w TOKEN`.
      if (platform === 'darwin') expect(argv).toContain('security -i\n');
    },
  );

  it('falls back to the 0600 file when the keychain refuses, and says so in the log', async () => {
    const me = await login(home, settings(), deps('linux', { FAKE_KEYRING_FAIL: '1' }));
    expect(me.tokenStore).toBe(join(home, REFRESH_TOKEN_FILE));
    expect(logLines.map((line) => JSON.parse(line).event)).toContain('login.keychain_unavailable');
  });

  it('insists on the keychain with EGG_TOKEN_STORE=keychain', async () => {
    await expect(
      login(home, settings(), deps('linux', { FAKE_KEYRING_FAIL: '1', EGG_TOKEN_STORE: 'keychain' })),
    ).rejects.toMatchObject({
      code: 'ERR_INSECURE_PERMISSIONS',
      message: 'the OS keychain refused to store the login (secret-tool store exited 5)',
    });
    expect(() =>
      detectTokenStore({
        home,
        issuer: 'https://i',
        clientId: 'c',
        platform: 'linux',
        env: { PATH: bin, EGG_TOKEN_STORE: 'keychain' },
      }),
    ).toThrow('EGG_TOKEN_STORE is "keychain" but no OS keychain was found');
  });

  it('uses the file on Linux without a session bus, or when told to', () => {
    const options = { home, issuer: 'https://i', clientId: 'c', platform: 'linux' as const };
    expect(detectTokenStore({ ...options, env: { PATH: bin } }).kind).toBe('file');
    expect(
      detectTokenStore({
        ...options,
        env: { PATH: bin, DBUS_SESSION_BUS_ADDRESS: 'x', EGG_TOKEN_STORE: 'file' },
      }).kind,
    ).toBe('file');
  });
});
