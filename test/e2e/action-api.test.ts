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
const PROVIDER_KEY = 'sk-canary-action-api-provider-61d0';
const TOKENS_NS = 'acme/tokens';
/** The namespaces' owner, through the API (the CLI's environment). */
let owner: NodeJS.ProcessEnv;
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
  // A namespace the job may mint in: a provider key, and the job a write member.
  const key = await eggAsync(
    [
      'secrets',
      'set',
      'OPENAI_KEY',
      '--from-env',
      'SOURCE',
      '-n',
      TOKENS_NS,
      '--upstream',
      'https://api.openai.com',
    ],
    { ...cli, SOURCE: PROVIDER_KEY },
  );
  expect(key.code).toBe(0);
  const writer = await eggAsync(
    [
      'members',
      'add',
      '-n',
      TOKENS_NS,
      'repo:acme/web:ref:refs/heads/main',
      '--issuer',
      'github',
      '--role',
      'write',
    ],
    cli,
  );
  expect(writer.code).toBe(0);
  owner = cli;
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

  it('mints through the API: each token masked before its output, tagged with the run; the post step revokes them through the API', async () => {
    const job = newJob(base);
    const requests = oidc.requests.length;
    const main = await job.main(
      {
        ...INPUTS,
        namespace: TOKENS_NS,
        'api-url': serve.url,
        secrets: '*',
        'export-env': 'false',
        'mint-tokens': 'OPENAI_KEY origins=https://app.example.com ttl=30m rps=5 spend=100',
      },
      env,
    );
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const token = main.outputs.get('token-OPENAI_KEY') as string;
    expect(token).toMatch(/^egg_/);
    const lines = main.stdout.split('\n');
    const masks = lines
      .filter((line) => line.startsWith('::add-mask::'))
      .map((l) => commandData(l, 'add-mask'));
    expect(masks).toContain(token);
    // Nothing but its mask ever printed the token.
    expect(lines.filter((line) => !line.startsWith('::add-mask::')).some((l) => l.includes(token))).toBe(
      false,
    );
    const id = main.outputs.get('token-ids') as string;
    expect(main.stdout).toContain(`Minted a token for OPENAI_KEY: id ${id},`);
    expect(JSON.parse(main.state.get('tokens') as string)).toEqual([id]);
    expect(JSON.parse(main.state.get('token-vault') as string)).toEqual({
      backend: 'api',
      url: `${serve.url}/`,
      namespace: TOKENS_NS,
      audience: AUDIENCE,
    });
    // The provider key was pulled (secrets: *), so it is masked; nowhere else.
    const logged = lines.filter((line) => !line.startsWith('::add-mask::')).join('\n');
    for (const text of [logged, main.summary, main.outputFile, main.envFile])
      expect(text).not.toContain(PROVIDER_KEY);

    const listed = async () =>
      JSON.parse((await eggAsync(['tokens', 'list', '-n', TOKENS_NS, '--json'], owner)).stdout) as {
        id: string;
        status: string;
        tags: Record<string, string>;
      }[];
    expect((await listed()).find((t) => t.id === id)).toMatchObject({
      status: 'active',
      tags: { run: '4242', attempt: '1', repo: 'acme/web' },
    });

    const post = await job.post(env);
    expect(post).toMatchObject({ code: 0, stderr: '' });
    expect(post.stdout).toContain(`Revoked 1 token minted by this job in ${TOKENS_NS}.`);
    // The usage of its tokens, read through the API before they were revoked: none was used.
    expect(post.summary).toContain(`### Token usage in \`${TOKENS_NS}\``);
    expect(post.summary).toContain(`| \`${id}\` | \`OPENAI_KEY\` | 0 | 0 | 0 |`);
    // The post step asked for its own OIDC token: the main step's was never saved.
    expect(oidc.requests.slice(requests)).toEqual([
      { audience: AUDIENCE, status: 200 },
      { audience: AUDIENCE, status: 200 },
    ]);
    expect(post.stdout).not.toContain(token);
    expect((await listed()).find((t) => t.id === id)?.status).toBe('revoked');
    // The server recorded the revocation as the job.
    const audit = JSON.parse((await eggAsync(['audit', '-n', TOKENS_NS, '--json'], owner)).stdout) as {
      action: string;
      actor: string;
      targets: string[];
    }[];
    expect(audit.filter((r) => r.targets.includes(id)).map((r) => [r.action, r.actor.split('|')[1]])).toEqual(
      [
        ['token.mint', 'repo:acme/web:ref:refs/heads/main'],
        ['token.revoke', 'repo:acme/web:ref:refs/heads/main'],
      ],
    );
  });

  it('rotates a shipped token through the API: the successor masked and output, the old one stopping after its grace', async () => {
    const shipped = await eggAsync(
      [
        'tokens',
        'mint',
        '-n',
        TOKENS_NS,
        '--key',
        'OPENAI_KEY',
        '--origin',
        'https://app.example.com',
        '--rps',
        '2',
        '--spend',
        '100',
        '--json',
      ],
      owner,
    );
    expect(shipped.code).toBe(0);
    const old = JSON.parse(shipped.stdout) as { id: string };
    const job = newJob(base);
    const main = await job.main(
      {
        ...INPUTS,
        namespace: TOKENS_NS,
        'api-url': serve.url,
        secrets: '*',
        'export-env': 'false',
        'rotate-tokens': `WEB=${old.id} grace=0`,
      },
      env,
    );
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const successor = main.outputs.get('token-WEB') as string;
    expect(successor).toMatch(/^egg_/);
    const masks = main.stdout
      .split('\n')
      .filter((line) => line.startsWith('::add-mask::'))
      .map((l) => commandData(l, 'add-mask'));
    expect(masks).toContain(successor);
    const [oldId, newId] = (main.outputs.get('rotated-token-ids') as string).split(':');
    expect(oldId).toBe(old.id);
    const tokens = JSON.parse(
      (await eggAsync(['tokens', 'list', '-n', TOKENS_NS, '--json'], owner)).stdout,
    ) as {
      id: string;
      status: string;
    }[];
    expect(tokens.find((t) => t.id === newId)?.status).toBe('active');
    expect(tokens.find((t) => t.id === old.id)?.status).toBe('revoked');
    // The successor is what the release ships next: the post step leaves it alone.
    const post = await job.post(env);
    expect(post).toMatchObject({ code: 0 });
    expect(post.stdout).toContain('No tokens were minted by this job; nothing to revoke.');
  });

  it('post step: never sends the job’s OIDC token to a saved API URL that is plain http off loopback', async () => {
    const requests = oidc.requests.length;
    const post = await newJob(base).post({
      ...env,
      STATE_tokens: JSON.stringify(['AAAAAAAAAAAAAAAAAAAAAA']),
      'STATE_token-vault': JSON.stringify({
        backend: 'api',
        url: 'http://egg.example.com/',
        namespace: TOKENS_NS,
        audience: AUDIENCE,
      }),
    });
    expect(post.code).toBe(1);
    expect(post.stdout).toContain('::error::the main step\'s saved state "token-vault" is malformed');
    expect(oidc.requests.length).toBe(requests);
  });

  it('refuses to mint for a job with only the read role, and exports nothing', async () => {
    const main = await newJob(base).main(
      {
        ...INPUTS,
        'api-url': serve.url,
        'mint-tokens': 'API_KEY origins=https://app.example.com rps=1 spend=1',
      },
      env,
    );
    expect(main.code).toBe(1);
    expect(main.stdout).toContain('::error::your role in acme/web is read, and tokens.mint needs write.');
    expect(main.env).toEqual(new Map());
    expect(main.outputs.get('token-API_KEY')).toBeUndefined();
  });

  it('never printed a value on the server', () => {
    for (const output of [serve.stdout(), serve.stderr()]) {
      expect(output).not.toContain(CANARY);
      expect(output).not.toContain(PROVIDER_KEY);
    }
  });
});
