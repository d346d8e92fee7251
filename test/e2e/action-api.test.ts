/**
 * The bundled Action with `backend: api` against `egg api serve` (a child process): the job's
 * GitHub-shaped OIDC token, from a loopback token service the API trusts as GitHub's issuer,
 * is the bearer of the pull (no STS). A member job gets its secrets exported and masked; a job
 * that is not a member is told what a missing namespace is told, and gets nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandData, newJob } from '../support/action-runner.js';
import { eggAsync } from '../support/cli.js';
import { type FakeJwks, startFakeJwks } from '../support/fake-jwks.js';
import { type FakeOidc, startFakeOidc } from '../support/fake-oidc.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';

const CANARY = 'canary-action-api-4e2b9';
const AUDIENCE = 'https://egg.example.com';
let base: string;
let people: FakeJwks;
let oidc: FakeOidc;
let serve: ServeProcess;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'egg-action-api-'));
  [people, oidc] = await Promise.all([startFakeJwks(), startFakeOidc()]);
  serve = await startServe(
    {
      EGG_HOME: join(base, 'server'),
      EGG_API_ISSUERS: JSON.stringify([{ issuer: 'github', audience: AUDIENCE, jwksUri: oidc.jwksUrl }]),
    },
    ['--issuer', people.issuer, '--audience', 'egg-cli'],
    ['api', 'serve'],
  );
  const cli = {
    PATH: process.env.PATH,
    EGG_HOME: join(base, 'client'),
    EGG_BACKEND: 'api',
    EGG_API_URL: serve.url,
    EGG_API_TOKEN: await people.sign({ sub: 'alice', aud: 'egg-cli' }),
    SOURCE: CANARY,
  };
  const set = await eggAsync(['secrets', 'set', 'API_KEY', '--from-env', 'SOURCE', '-n', 'acme/web'], cli);
  expect(set.code).toBe(0);
  const added = await eggAsync(
    ['members', 'add', '-n', 'acme/web', 'repo:acme/web:ref:refs/heads/main', '--issuer', 'github'],
    cli,
  );
  expect(added.code).toBe(0);
  env = { ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken };
});
afterAll(async () => {
  serve?.child.kill('SIGKILL');
  await Promise.all([people?.close(), oidc?.close()]);
  rmSync(base, { recursive: true, force: true });
});

const INPUTS = { backend: 'api', 'api-audience': AUDIENCE, namespace: 'acme/web' };

describe('the Action with backend api', () => {
  it('pulls through the API with the job’s OIDC token as bearer, masks, then exports', async () => {
    const job = newJob(base);
    const main = await job.main({ ...INPUTS, 'api-url': serve.url }, env);
    expect(main).toMatchObject({ code: 0, stderr: '' });
    expect(oidc.requests).toEqual([{ audience: AUDIENCE, status: 200 }]);
    const lines = main.stdout.split('\n');
    // The token first, then the value, masked before anything could carry them.
    const token = commandData(lines[0] as string, 'add-mask') as string;
    expect(token).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/);
    expect(commandData(lines[1] as string, 'add-mask')).toBe(CANARY);
    expect(main.env).toEqual(new Map([['API_KEY', CANARY]]));
    expect(main.outputs.get('secret-names')).toBe('API_KEY');
    expect(main.stdout).toMatch(/Pulled 1 secret from acme\/web: API_KEY\. Data keys rotated: 1\./);
    expect(main.stdout).toMatch(
      /Audit trail of acme\/web: this job's read is record \d+, hash [0-9a-f]{16}\./,
    );
    const masked = lines.filter((line) => !line.startsWith('::add-mask::'));
    expect(masked.some((line) => line.includes(CANARY) || line.includes(token))).toBe(false);
    expect(await job.post()).toMatchObject({
      code: 0,
      stdout: 'No tokens were minted by this job; nothing to revoke.\n',
    });
  });

  it('tells a job that is not a member what a missing namespace is told, and exports nothing', async () => {
    oidc.setClaims({ sub: 'repo:acme/other:ref:refs/heads/main', repository: 'acme/other' });
    try {
      const main = await newJob(base).main({ ...INPUTS, 'api-url': serve.url }, env);
      expect(main.code).toBe(1);
      expect(main.stdout).toContain(
        '::error::namespace acme/web does not exist, or you are not a member of it.%0AAsk its owner to add you (`egg members add`).',
      );
      expect(main.env).toEqual(new Map());
      expect(main.outputs).toEqual(new Map());
      expect(main.stdout).not.toContain(CANARY);
    } finally {
      oidc.setClaims({});
    }
  });

  it('never printed a value on the server', () => {
    for (const output of [serve.stdout(), serve.stderr()]) expect(output).not.toContain(CANARY);
  });
});
