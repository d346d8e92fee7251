/**
 * The built CLI with `EGG_BACKEND=api` against `egg api serve` (both child processes, a local
 * JWKS issuer signing the people's tokens): the secrets, run, tokens, audit, namespaces and
 * whoami commands as in the other modes, with nothing opened under the client's EGG_HOME; the
 * errors of a missing token, a plain-http URL off loopback, and a non-member (told what a
 * missing namespace is told); commands that need a vault of their own refused. A canary value
 * is printed only by the commands that print values, and never by the server.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eggAsync } from '../support/cli.js';
import { type FakeJwks, startFakeJwks } from '../support/fake-jwks.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';

const CANARY = 'canary-api-backend-7c41e';
const CANARY_2 = 'canary-api-backend-second-93af';
const PROVIDER_KEY = 'sk-canary-provider-0d5b';
let serverHome: string;
let clientHome: string;
let people: FakeJwks;
let serve: ServeProcess;
let alice: string;
let bob: string;

beforeAll(async () => {
  serverHome = mkdtempSync(join(tmpdir(), 'egg-api-backend-server-'));
  clientHome = mkdtempSync(join(tmpdir(), 'egg-api-backend-client-'));
  people = await startFakeJwks();
  serve = await startServe(
    { EGG_HOME: serverHome },
    ['--issuer', people.issuer, '--audience', 'egg-cli'],
    ['api', 'serve'],
  );
  alice = await people.sign({ sub: 'alice', aud: 'egg-cli' });
  bob = await people.sign({ sub: 'bob', aud: 'egg-cli' });
});
afterAll(async () => {
  serve?.child.kill('SIGKILL');
  await people?.close();
  rmSync(serverHome, { recursive: true, force: true });
  rmSync(clientHome, { recursive: true, force: true });
});

function env(token: string | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    EGG_HOME: clientHome,
    EGG_BACKEND: 'api',
    EGG_NAMESPACE: 'acme/app',
    EGG_API_URL: serve.url,
    ...(token === undefined ? {} : { EGG_API_TOKEN: token }),
    ...extra,
  };
}

const egg = (args: string[], token: string | undefined = alice, extra: NodeJS.ProcessEnv = {}) =>
  eggAsync(args, env(token, extra)).then((result) => {
    expect(result.stderr).not.toContain(CANARY);
    return result;
  });

describe('EGG_BACKEND=api', () => {
  it('sets (claiming the namespace), gets, lists, pulls and shows the history through the API', async () => {
    const first = await egg(['secrets', 'set', 'API_KEY', '--from-env', 'SOURCE'], alice, {
      SOURCE: CANARY,
    });
    expect(first).toMatchObject({ code: 0, stdout: 'Set API_KEY in acme/app (rev 1).\n' });
    const second = await egg(['secrets', 'set', 'API_KEY', '--from-env', 'SOURCE', '--json'], alice, {
      SOURCE: CANARY_2,
    });
    expect(JSON.parse(second.stdout)).toMatchObject({ namespace: 'acme/app', name: 'API_KEY', rev: 2 });

    expect(await egg(['secrets', 'get', 'API_KEY'])).toMatchObject({ code: 0, stdout: CANARY_2 });
    expect(await egg(['secrets', 'get', 'API_KEY', '--rev', '1'])).toMatchObject({ code: 0, stdout: CANARY });
    const json = JSON.parse((await egg(['secrets', 'get', 'API_KEY', '--json'])).stdout);
    expect(json).toMatchObject({ name: 'API_KEY', namespace: 'acme/app', encoding: 'utf8', value: CANARY_2 });

    const listed = await egg(['secrets', 'list', '--json']);
    expect(JSON.parse(listed.stdout).map((s: { name: string; rev: number }) => [s.name, s.rev])).toEqual([
      ['API_KEY', 2],
    ]);
    const table = await egg(['secrets', 'list']);
    expect(table.stdout).toMatch(/^NAME +REV +GEN +UPDATED\nAPI_KEY +2 +\d+ +\d{4}-/);

    expect(await egg(['secrets', 'pull', '--format', 'dotenv'])).toMatchObject({
      code: 0,
      stdout: `API_KEY='${CANARY_2}'\n`,
    });

    const history = await egg(['secrets', 'history', 'API_KEY', '--json']);
    const versions = JSON.parse(history.stdout).versions as {
      rev: number;
      actor: string;
      current: boolean;
    }[];
    expect(versions.map((v) => [v.rev, v.current])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect(versions[0]?.actor).toBe(`${people.issuer}|alice`);
    for (const output of [listed.stdout, table.stdout, history.stdout]) {
      expect(output).not.toContain(CANARY);
      expect(output).not.toContain(CANARY_2);
    }
    // No vault, key or token store under the client's EGG_HOME (oclif keeps its cache there).
    expect(readdirSync(clientHome).filter((file) => file !== 'cache')).toEqual([]);
  });

  it('runs a command with the secrets in its environment, masked in its output', async () => {
    const ran = await egg(['run', '--', 'sh', '-c', 'echo "key=$API_KEY"; exit 3']);
    expect(ran).toMatchObject({ code: 3, stdout: 'key=***\n' });
  });

  it('mints, lists, rotates and revokes tokens for a provider key', async () => {
    const set = await egg(
      ['secrets', 'set', 'OPENAI_KEY', '--from-env', 'SOURCE', '--upstream', 'https://api.openai.com'],
      alice,
      { SOURCE: PROVIDER_KEY },
    );
    expect(set).toMatchObject({
      code: 0,
      stdout: 'Set OPENAI_KEY in acme/app (rev 1, pinned to https://api.openai.com).\n',
    });
    const minted = await egg([
      'tokens',
      'mint',
      '--key',
      'OPENAI_KEY',
      '--origin',
      'https://app.example.com',
      '--rps',
      '2',
      '--spend',
      '100',
      '--tag',
      'run=7',
      '--json',
    ]);
    expect(minted.code).toBe(0);
    const token = JSON.parse(minted.stdout) as { token: string; id: string; claims: { key: string } };
    expect(token.claims.key).toBe('OPENAI_KEY');
    expect(minted.stdout).not.toContain(PROVIDER_KEY);

    const listed = await egg(['tokens', 'list', '--json']);
    expect(JSON.parse(listed.stdout).map((t: { id: string; status: string }) => [t.id, t.status])).toEqual([
      [token.id, 'active'],
    ]);
    expect(listed.stdout).not.toContain(token.token);

    const rotated = await egg(['tokens', 'rotate', token.id, '--grace', '0', '--json']);
    expect(rotated.code).toBe(0);
    const successor = JSON.parse(rotated.stdout) as { id: string; replaces: string };
    expect(successor.replaces).toBe(token.id);

    const revoked = await egg(['tokens', 'revoke', '--tag', 'run=7']);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(successor.id);
    const after = JSON.parse((await egg(['tokens', 'list', '--json'])).stdout) as { status: string }[];
    expect(after.map((t) => t.status)).toEqual(['revoked', 'revoked']);
  });

  it('shows and verifies the audit trail the server wrote, and the namespaces with the caller’s role', async () => {
    const audit = await egg(['audit', '--json']);
    const records = JSON.parse(audit.stdout) as { action: string; actor: string }[];
    const actions = records.map((r) => r.action);
    for (const action of ['namespace.create', 'set', 'read', 'history', 'list', 'token.list'])
      expect(actions).toContain(action);
    expect(records.every((r) => r.actor === `${people.issuer}|alice` || r.actor === 'api')).toBe(true);
    expect(audit.stdout).not.toContain(CANARY);

    const verified = await egg(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(
      /^Audit trail of acme\/app: no checkpoint: nothing anchored\. Its \d+ records link/,
    );

    const namespaces = await egg(['namespaces']);
    expect(namespaces.stdout).toBe('NAMESPACE  ROLE\nacme/app   owner\n');
  });

  it('removes a secret, and suggests the close name of a mistyped one', async () => {
    expect(await egg(['secrets', 'rm', 'API_KEY'])).toMatchObject({
      code: 0,
      stdout: 'Removed API_KEY from acme/app.\n',
    });
    const missing = await egg(['secrets', 'get', 'OPENAI_KY']);
    expect(missing).toMatchObject({
      code: 1,
      stderr: 'Error: secret not found in acme/app: OPENAI_KY (did you mean OPENAI_KEY?).\n',
    });
  });

  it('whoami names the API and the token’s issuer and subject, never the token', async () => {
    const me = await egg(['whoami']);
    expect(me.code).toBe(0);
    expect(me.stdout).toContain(`API:         ${serve.url}/\n`);
    expect(me.stdout).toContain(`Issuer:      ${people.issuer}\n`);
    expect(me.stdout).toContain('Subject:     alice');
    expect(me.stdout).not.toContain(alice);
  });

  it('tells a non-member what a missing namespace is told, and suggests a close namespace it is a member of', async () => {
    const stranger = await egg(['secrets', 'get', 'OPENAI_KEY'], bob);
    const nowhere = await eggAsync(['secrets', 'list', '-n', 'acme/none'], env(bob));
    const message = (ns: string) => `Error: namespace ${ns} does not exist, or you are not a member of it`;
    expect(stranger.code).toBe(1);
    expect(nowhere.code).toBe(1);
    expect(stranger.stderr).toBe(
      `${message('acme/app')} (ask its owner to add you (\`egg members add\`)).\n`,
    );
    expect(nowhere.stderr).toBe(
      `${message('acme/none')} (ask its owner to add you (\`egg members add\`)).\n`,
    );
    const typo = await eggAsync(['secrets', 'list', '-n', 'acme/ap'], env(alice));
    expect(typo).toMatchObject({ code: 1, stderr: `${message('acme/ap')} (did you mean acme/app?).\n` });
  });

  it('refuses without a token, over plain http off loopback, and for commands that need a vault of their own', async () => {
    expect(await eggAsync(['secrets', 'list'], env(undefined))).toMatchObject({
      code: 1,
      // No EGG_API_TOKEN and no `egg login --backend api` session (src/api/bearer.ts).
      stderr: 'Error: you are not logged in (run `egg login --backend api`).\n',
    });
    const plain = await egg(['secrets', 'list'], alice, { EGG_API_URL: 'http://egg.example.com' });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(
      'the API URL must be https (it is http://egg.example.com) (from EGG_API_URL)',
    );
    expect(await egg(['rotate'])).toMatchObject({
      code: 2,
      stderr:
        'Error: egg rotate is not available with the api backend (it opens a vault of its own: use --backend local or aws).\n',
    });
    expect(existsSync(join(clientHome, 'vault.db'))).toBe(false);
  });

  it('never printed a value on the server', () => {
    for (const output of [serve.stdout(), serve.stderr()])
      for (const value of [CANARY, CANARY_2, PROVIDER_KEY]) {
        expect(output).not.toContain(value);
        expect(output).not.toContain(Buffer.from(value).toString('base64'));
      }
  });
});
