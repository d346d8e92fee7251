/** `egg whoami` on the local backend names the OS user and the vault (issue 12, item 6). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { egg } from '../support/cli.js';

describe('egg whoami on the local backend', () => {
  const base = mkdtempSync(join(tmpdir(), 'egg-whoami-'));
  const env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('names the OS user the audit trail records and the vault, and says when there is no vault yet', () => {
    const vault = join(base, 'home', 'vault.db');
    const before = egg(['whoami'], { env, cwd: base });
    expect(before.code).toBe(0);
    expect(before.stdout).toBe(
      [
        'Backend:     local',
        `User:        user:${userInfo().username} (the OS user; the audit trail records this name)`,
        `Vault:       ${vault} (not created yet: run \`egg init\`)`,
        'Namespace:   acme/web',
        '',
      ].join('\n'),
    );

    expect(egg(['init'], { env, cwd: base }).code).toBe(0);
    expect(egg(['secrets', 'set', 'WHO', '--from-env', 'HOME'], { env, cwd: base }).code).toBe(0);
    const after = egg(['whoami', '--json'], { env, cwd: base });
    expect(JSON.parse(after.stdout)).toEqual({
      loggedIn: false,
      backend: 'local',
      actor: `user:${userInfo().username}`,
      vault,
      vaultExists: true,
      namespace: 'acme/web',
    });
    // The name whoami shows is the one the audit trail holds.
    const audit = JSON.parse(egg(['audit', '--json'], { env, cwd: base }).stdout) as { actor: string }[];
    expect(audit.map((r) => r.actor)).toContain(`user:${userInfo().username}`);
  });

  it('exits 1 on the aws backend with no login session, saying what it uses instead', () => {
    const aws = egg(['whoami', '--backend', 'aws'], { env, cwd: base });
    expect([aws.code, aws.stderr]).toEqual([
      1,
      "Not logged in (run `egg login`); until then the aws backend uses the AWS SDK's default credentials.\n",
    ]);
  });
});
