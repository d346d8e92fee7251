/**
 * `egg ci init` against GitHub's REST API mocked with nock: the dry run issues only GETs,
 * --apply sends exactly the POST/PATCH bodies GitHub documents, refusals name the token's
 * variable, the repository and the permission, and the token never reaches any output.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import CiInit from '../../cli/commands/ci/init.js';
import { EggError } from '../../src/errors.js';
import { desiredVariables, planCiInit } from '../../src/github/ci-init.js';
import { lineDiff } from '../../src/github/diff.js';
import { parseRemoteUrl, parseRepository } from '../../src/github/repository.js';
import { renderWorkflow } from '../../src/github/workflow.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const API = 'https://api.github.com';
const TOKEN = 'ghp_canaryTOKEN0123456789abcdefghijklmnop';
const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
const VARS = '/repos/acme/web/actions/variables';

const FLAGS = [
  '--role-arn',
  ROLE,
  '--table',
  'egg-prod',
  '--region',
  'eu-west-1',
  '--kms-key-id',
  'alias/egg',
  '-n',
  'acme/web/prod',
];

const EXPECTED_WORKFLOW = `# Written by \`egg ci init\`: pulls the secrets of vars.EGG_NAMESPACE into the job, masked.
# The role in vars.EGG_ROLE_ARN must trust this job’s OIDC token; its trust policy needs
#   "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
#   "token.actions.githubusercontent.com:sub": "repo:acme/web:ref:refs/heads/main"
# \`egg doctor --role-arn ARN\`, run as a step of this job, says what does not match.
name: Egg Carton

on:
  push:
    branches: [main]
  workflow_dispatch:

permissions:
  contents: read
  id-token: write # lets the job request its OIDC token; nothing works without it

jobs:
  secrets:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - id: egg
        uses: eggcarton/action@v1
        with:
          role-to-assume: \${{ vars.EGG_ROLE_ARN }}
          aws-region: \${{ vars.AWS_REGION }}
          table: \${{ vars.EGG_TABLE }}
          kms-key-id: \${{ vars.EGG_KMS_KEY_ID }}
          namespace: \${{ vars.EGG_NAMESPACE }}
          rotation: deferred # infra/ roles are read-only: its rotator re-encrypts what was read
          secrets: '*' # or one a line: NAME, or ENV_NAME=NAME
      # Your steps here: every secret is in their environment, masked as *** in the log.
      - run: echo "Pulled \${{ steps.egg.outputs.secret-names }}"
`;

let dir: string;
let repo: string;
const savedEnv = { ...process.env };
const savedCwd = process.cwd();

beforeAll(() => {
  nock.disableNetConnect();
});
afterAll(() => {
  nock.enableNetConnect();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egg-ci-init-'));
  repo = join(dir, 'web');
  mkdirSync(join(repo, 'src'), { recursive: true });
  execFileSync('git', ['init', '-q', repo]);
  execFileSync('git', ['-C', repo, 'remote', 'add', 'origin', 'git@github.com:acme/web.git']);
  for (const name of [
    'EGG_ROLE_ARN',
    'EGG_TABLE',
    'EGG_KMS_KEY_ID',
    'EGG_NAMESPACE',
    'EGG_BACKEND',
    'AWS_REGION',
  ]) {
    delete process.env[name];
  }
  delete process.env.GITHUB_TOKEN;
  delete process.env.GITHUB_API_URL;
  process.env.GH_TOKEN = TOKEN;
  process.env.EGG_HOME = join(dir, 'egg-home');
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  process.chdir(savedCwd);
  process.env = { ...savedEnv };
  process.exitCode = 0;
  rmSync(dir, { recursive: true, force: true });
  expect(pending, 'every mocked GitHub request was made').toEqual([]);
});

/** GitHub as it answers when the token may see the repository. */
function github() {
  return nock(API, { reqheaders: { authorization: `token ${TOKEN}` } });
}

/** GET /repos/acme/web as GitHub answers it. */
const REPO = {
  id: 2002,
  name: 'web',
  full_name: 'acme/web',
  owner: { login: 'acme', id: 1001 },
  default_branch: 'main',
  created_at: '2021-03-04T05:06:07Z',
};

/** The repository (acme, id 1001 / web, id 2002), on the name-only subject form. */
function repoGet() {
  github().get('/repos/acme/web').reply(200, REPO);
  github()
    .get('/repos/acme/web/actions/oidc/customization/sub')
    .reply(200, { use_default: true, use_immutable_subject: false, sub_claim_prefix: 'repo:acme/web' });
}

/** Variables as they are now: undefined is absent (404). */
function variablesNow(current: Record<string, string | undefined>) {
  for (const [name, value] of Object.entries(current)) {
    const scope = github().get(`${VARS}/${name}`);
    if (value === undefined) scope.reply(404, { message: 'Not Found' });
    else
      scope.reply(200, {
        name,
        value,
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
      });
  }
}

const CURRENT = {
  EGG_ROLE_ARN: undefined,
  EGG_NAMESPACE: 'acme/web/staging',
  EGG_TABLE: 'egg-prod',
  AWS_REGION: undefined,
  EGG_KMS_KEY_ID: 'alias/egg',
};

/** Run the command in-process (nock sees its requests), capturing stdout and stderr. */
async function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  process.chdir(join(repo, 'src'));
  process.exitCode = 0;
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await CiInit.run(args, ROOT);
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { stdout: out.join(''), stderr: err.join(''), code };
}

describe('egg ci init', () => {
  it('dry run by default: reads the repository and each variable, writes nothing', async () => {
    repoGet();
    variablesNow(CURRENT);
    const result = await run(FLAGS);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'Repository: acme/web (from git remote origin)',
        'OIDC subject of the job: repo:acme/web:ref:refs/heads/main',
        '  the name-only form (the repository’s OIDC settings say so); owner id 1001, repository id 2002',
        'Grant for infra/grants.json that matches it, now and after the repository opts in to immutable subjects:',
        '  {"namespace":"acme/web/prod","subjects":["repo:acme/web:ref:refs/heads/main","repo:acme@1001/web@2002:ref:refs/heads/main"],"allowMutableSubject":true}',
        '  Whoever takes over the name acme or acme/web also presents the name-only sub: opt the repository in ' +
          '(`gh api -X PUT repos/acme/web/actions/oidc/customization/sub -F use_default=true -F use_immutable_subject=true`), ' +
          'then drop the name-only pattern and allowMutableSubject (docs/deploy.md, "Immutable subjects").',
        '',
        '.github/workflows/egg.yml: create',
        ...EXPECTED_WORKFLOW.trimEnd()
          .split('\n')
          .map((line) => `  + ${line}`),
        '',
        'Repository variables of acme/web:',
        `  create     EGG_ROLE_ARN   = ${ROLE}`,
        '  update     EGG_NAMESPACE  = acme/web/prod (now "acme/web/staging")',
        '  unchanged  EGG_TABLE      = egg-prod',
        '  create     AWS_REGION     = eu-west-1',
        '  unchanged  EGG_KMS_KEY_ID = alias/egg',
        '',
        'Dry run: nothing was changed. Run again with --apply to make these changes.',
        '',
      ].join('\n'),
    );
    expect(() => statSync(join(repo, '.github'))).toThrow(/ENOENT/);
  });

  it('--apply POSTs the missing variables and PATCHes the changed one, with GitHub’s bodies', async () => {
    repoGet();
    variablesNow(CURRENT);
    github().post(VARS, { name: 'EGG_ROLE_ARN', value: ROLE }).reply(201, {});
    // The name is in the path; Octokit sends only the value (PATCH …/variables/{name}).
    github().patch(`${VARS}/EGG_NAMESPACE`, { value: 'acme/web/prod' }).reply(204);
    github().post(VARS, { name: 'AWS_REGION', value: 'eu-west-1' }).reply(201, {});
    const result = await run([...FLAGS, '--apply']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').slice(-3)).toEqual([
      'Wrote .github/workflows/egg.yml. Variables: 2 created, 1 updated, 2 unchanged.',
      'Next: commit .github/workflows/egg.yml, and make sure the role\'s trust policy allows "token.actions.githubusercontent.com:sub" = "repo:acme/web:ref:refs/heads/main" (the grant above; a step running `egg doctor --role-arn …` in the job checks it).',
      '',
    ]);
    const path = join(repo, '.github/workflows/egg.yml');
    expect(readFileSync(path, 'utf8')).toBe(EXPECTED_WORKFLOW);
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it('a second --apply changes nothing', async () => {
    repoGet();
    variablesNow({
      EGG_ROLE_ARN: ROLE,
      EGG_NAMESPACE: 'acme/web/prod',
      EGG_TABLE: 'egg-prod',
      AWS_REGION: 'eu-west-1',
      EGG_KMS_KEY_ID: 'alias/egg',
    });
    mkdirSync(join(repo, '.github/workflows'), { recursive: true });
    writeFileSync(join(repo, '.github/workflows/egg.yml'), EXPECTED_WORKFLOW);
    const result = await run([...FLAGS, '--apply', '--json']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({
      repository: 'acme/web',
      applied: true,
      workflow: { path: '.github/workflows/egg.yml', action: 'unchanged', diff: [] },
    });
    expect(json.variables.map((v: { action: string }) => v.action)).toEqual(Array(5).fill('unchanged'));
  });

  it('keeps a workflow file that differs unless --force, and shows the diff', async () => {
    mkdirSync(join(repo, '.github/workflows'), { recursive: true });
    const path = join(repo, '.github/workflows/egg.yml');
    const edited = EXPECTED_WORKFLOW.replace('    runs-on: ubuntu-latest', '    runs-on: self-hosted');
    writeFileSync(path, edited);
    for (const force of [false, true]) {
      repoGet();
      variablesNow({
        EGG_ROLE_ARN: ROLE,
        EGG_NAMESPACE: 'acme/web/prod',
        EGG_TABLE: 'egg-prod',
        AWS_REGION: 'eu-west-1',
        EGG_KMS_KEY_ID: 'alias/egg',
      });
      const result = await run([...FLAGS, '--apply', '--json', ...(force ? ['--force'] : [])]);
      const json = JSON.parse(result.stdout);
      expect(json.workflow.action).toBe(force ? 'update' : 'keep');
      expect(json.workflow.diff).toEqual([
        '  …',
        '  ',
        '  jobs:',
        '    secrets:',
        '-     runs-on: self-hosted',
        '+     runs-on: ubuntu-latest',
        '      steps:',
        '        - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2',
        '        - id: egg',
        '  …',
      ]);
      expect(readFileSync(path, 'utf8')).toBe(force ? EXPECTED_WORKFLOW : edited);
    }
  });

  it('names the environment in the job and in the subject the role must trust', async () => {
    repoGet();
    variablesNow({
      EGG_ROLE_ARN: ROLE,
      EGG_NAMESPACE: 'acme/web/prod',
      EGG_TABLE: 'egg-prod',
      AWS_REGION: 'eu-west-1',
      EGG_KMS_KEY_ID: 'alias/egg',
    });
    const result = await run([...FLAGS, '--environment', 'prod', '--branch', 'release', '--json']);
    const json = JSON.parse(result.stdout);
    expect(json.subject).toBe('repo:acme/web:environment:prod');
    const added = (json.workflow.diff as string[]).map((line) => line.slice(2));
    expect(added).toContain('    environment: prod');
    expect(added).toContain('    branches: [release]');
  });

  it('says the token needs variables: write and names the repository on a 403', async () => {
    repoGet();
    variablesNow(CURRENT);
    github()
      .post(VARS, { name: 'EGG_ROLE_ARN', value: ROLE })
      .reply(403, { message: 'Resource not accessible by personal access token' });
    const result = await run([...FLAGS, '--apply']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'Error: GitHub refused to let the token in GH_TOKEN write the variable EGG_ROLE_ARN of acme/web (403) ' +
        '(the token in GH_TOKEN needs the "Variables" repository permission (read and write) for a fine-grained token ' +
        'or GitHub App, or the "repo" scope for a classic token, and admin access to acme/web).\n',
    );
    expect(() => statSync(join(repo, '.github'))).toThrow(/ENOENT/);
  });

  it('says the same when the token may not even read the variables', async () => {
    repoGet();
    github().get(`${VARS}/EGG_ROLE_ARN`).reply(403, { message: 'Resource not accessible by integration' });
    for (const name of ['EGG_NAMESPACE', 'EGG_TABLE', 'AWS_REGION', 'EGG_KMS_KEY_ID'])
      github().get(`${VARS}/${name}`).optionally().reply(403, {});
    const result = await run(FLAGS);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^Error: GitHub refused to let the token in GH_TOKEN read the variable \w+ of acme\/web \(403\) \(the token in GH_TOKEN needs the "Variables" repository permission/,
    );
  });

  it('a 404 for the repository says it is missing or the token cannot see it', async () => {
    github().get('/repos/acme/web').reply(404, { message: 'Not Found' });
    github().get('/repos/acme/web/actions/oidc/customization/sub').optionally().reply(404, {});
    for (const name of Object.keys(CURRENT)) github().get(`${VARS}/${name}`).optionally().reply(404, {});
    const result = await run(FLAGS);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^Error: GitHub answered 404 for the repository acme\/web: the repository does not exist, or the token in GH_TOKEN may not read its Actions variables \(check the repository/,
    );
  });

  it('shows the dry run of a public repository without a token, reading nothing a token guards', async () => {
    delete process.env.GH_TOKEN;
    nock(API, { badheaders: ['authorization'] })
      .get('/repos/acme/web')
      .reply(200, REPO);
    const result = await run(FLAGS);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'Repository: acme/web (from git remote origin)',
      'OIDC subject of the job: repo:acme/web:ref:refs/heads/main',
      expect.stringContaining('no GitHub token to read its OIDC settings with'),
    ]);
    expect(lines.slice(-10)).toEqual([
      'Repository variables of acme/web:',
      `  set        EGG_ROLE_ARN   = ${ROLE}`,
      '  set        EGG_NAMESPACE  = acme/web/prod',
      '  set        EGG_TABLE      = egg-prod',
      '  set        AWS_REGION     = eu-west-1',
      '  set        EGG_KMS_KEY_ID = alias/egg',
      '',
      'Without a GitHub token the variables’ current values and the OIDC settings were not read; --apply needs one (GH_TOKEN or GITHUB_TOKEN).',
      'Dry run: nothing was changed. Run again with --apply and a token to make these changes.',
      '',
    ]);
    expect(() => statSync(join(repo, '.github'))).toThrow(/ENOENT/);
  });

  it('says a repository it cannot see without a token is private or missing, and how to give one', async () => {
    delete process.env.GH_TOKEN;
    nock(API, { badheaders: ['authorization'] })
      .get('/repos/acme/web')
      .reply(404, { message: 'Not Found' });
    const result = await run(FLAGS);
    expect([result.code, result.stderr]).toEqual([
      1,
      'Error: GitHub answered 404 for the repository acme/web without a token: it is private, or does not exist (set GH_TOKEN to a token that may read it (e.g. `GH_TOKEN=$(gh auth token)`), or check --repo).\n',
    ]);
  });

  it('names GH_TOKEN and GITHUB_TOKEN for --apply when neither is set, and asks GitHub nothing', async () => {
    delete process.env.GH_TOKEN;
    const result = await run([...FLAGS, '--apply']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'Error: no GitHub token: set GH_TOKEN or GITHUB_TOKEN (use a token that may write the repository’s Actions variables, e.g. `GH_TOKEN=$(gh auth token) egg ci init`).\n',
    );
  });

  it('uses GITHUB_TOKEN, --repo, and GITHUB_API_URL for GitHub Enterprise Server', async () => {
    delete process.env.GH_TOKEN;
    process.env.GITHUB_TOKEN = TOKEN;
    process.env.GITHUB_API_URL = 'https://ghe.example.com/api/v3';
    const ghe = () => nock('https://ghe.example.com', { reqheaders: { authorization: `token ${TOKEN}` } });
    ghe()
      .get('/api/v3/repos/platform/api')
      .reply(200, { id: 7, name: 'api', owner: { login: 'platform', id: 6 }, default_branch: 'trunk' });
    ghe().get('/api/v3/repos/platform/api/actions/oidc/customization/sub').reply(200, { use_default: true });
    for (const name of Object.keys(CURRENT))
      ghe().get(`/api/v3/repos/platform/api/actions/variables/${name}`).reply(404, {});
    const result = await run([...FLAGS, '--repo', 'platform/api', '--json']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({ repository: 'platform/api', repositorySource: '--repo', applied: false });
    expect(json.subject).toBe('repo:platform/api:ref:refs/heads/trunk');
  });

  it('lists every missing value in one usage error', async () => {
    const result = await run(['--role-arn', ROLE]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'Error: egg ci init needs --table (or EGG_TABLE), --region (or AWS_REGION), --kms-key-id (or EGG_KMS_KEY_ID) ' +
        '(these become the repository variables the workflow reads).\n',
    );
  });

  it('never prints the token, whatever happens', async () => {
    repoGet();
    variablesNow(CURRENT);
    github().post(VARS).reply(401, { message: 'Bad credentials' });
    const outputs: string[] = [];
    const failed = await run([...FLAGS, '--apply']);
    outputs.push(failed.stdout, failed.stderr);
    expect(failed.stderr).toBe(
      'Error: GitHub refused the token in GH_TOKEN (401 Bad credentials) (it is invalid, expired or revoked; create a new one (or run `gh auth refresh`)).\n',
    );
    repoGet();
    variablesNow(CURRENT);
    const json = await run([...FLAGS, '--json']);
    outputs.push(json.stdout, json.stderr);
    for (const text of outputs) expect(text.includes(TOKEN)).toBe(false);
  });
});

describe('planCiInit', () => {
  it('refuses an invalid value before any request, naming the flag', async () => {
    await expect(
      planCiInit({
        cwd: repo,
        env: { GH_TOKEN: TOKEN },
        values: {
          EGG_ROLE_ARN: 'arn:aws:iam::123:role/x',
          EGG_NAMESPACE: 'acme',
          EGG_TABLE: 'egg',
          AWS_REGION: 'eu-west-1',
          EGG_KMS_KEY_ID: 'alias/egg',
        },
        force: false,
      }),
    ).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message:
        '--role-arn (or EGG_ROLE_ARN) is "arn:aws:iam::123:role/x"; it must be an IAM role ARN (arn:aws:iam::123456789012:role/name)',
    });
  });

  it('refuses to run outside a git repository', async () => {
    await expect(
      planCiInit({ cwd: dir, env: { GH_TOKEN: TOKEN }, values: desiredValues(), force: false }),
    ).rejects.toMatchObject({ code: 'ERR_USAGE', message: `${dir} is not inside a git repository` });
  });
});

function desiredValues() {
  return Object.fromEntries(
    desiredVariables({
      EGG_ROLE_ARN: ROLE,
      EGG_NAMESPACE: 'acme/web/prod',
      EGG_TABLE: 'egg-prod',
      AWS_REGION: 'eu-west-1',
      EGG_KMS_KEY_ID: 'alias/egg',
    }).map((v) => [v.name, v.value]),
  );
}

describe('repository from a git remote', () => {
  it.each([
    ['https://github.com/acme/web.git', 'github.com', 'acme', 'web'],
    ['https://github.com/acme/web', 'github.com', 'acme', 'web'],
    ['https://github.com/acme/web/', 'github.com', 'acme', 'web'],
    ['https://x-access-token:ghs_secret@github.com/acme/web.git', 'github.com', 'acme', 'web'],
    ['git@github.com:acme/web.git', 'github.com', 'acme', 'web'],
    ['git@github.com:acme/web', 'github.com', 'acme', 'web'],
    ['github.com:acme/web.js.git', 'github.com', 'acme', 'web.js'],
    ['ssh://git@github.com/acme/web.git', 'github.com', 'acme', 'web'],
    ['ssh://git@github.com:22/acme/web.git', 'github.com', 'acme', 'web'],
    ['git://github.com/acme/web.git', 'github.com', 'acme', 'web'],
    ['git@GHE.example.com:platform/api.git', 'ghe.example.com', 'platform', 'api'],
  ])('%s', (url, host, owner, name) => {
    expect(parseRemoteUrl(url)).toEqual({ host, owner, repo: name });
  });

  it.each([
    '/srv/git/web.git',
    'file:///srv/git/web.git',
    'https://github.com/acme',
    'https://github.com/acme/web/tree/main',
    'git@github.com:-bad/web.git',
    'https://github.com/acme/..',
  ])('refuses %s', (url) => {
    expect(parseRemoteUrl(url)).toBeUndefined();
  });

  it('parses --repo OWNER/NAME and refuses anything else', () => {
    expect(parseRepository('acme/web')).toEqual({ owner: 'acme', repo: 'web', host: 'github.com' });
    expect(() => parseRepository('acme')).toThrow(EggError);
    expect(() => parseRepository('https://github.com/acme/web')).toThrow('is not a GitHub repository');
  });
});

describe('workflow', () => {
  it('grants only id-token: write and contents: read, and pins checkout to a commit', () => {
    const text = renderWorkflow({ repository: 'acme/web', branch: 'main' });
    expect(text).toBe(EXPECTED_WORKFLOW);
    expect(text).toContain('permissions:\n  contents: read\n  id-token: write');
    expect(text.match(/^\s*permissions:/gm)).toHaveLength(1);
    expect(text).toMatch(/uses: actions\/checkout@[0-9a-f]{40} /);
  });

  it('quotes a branch that YAML would misread', () => {
    const text = renderWorkflow({ repository: 'acme/web', branch: 'on', environment: 'prod: eu' });
    expect(text).toContain('branches: ["on"]');
    expect(text).toContain('environment: "prod: eu"');
  });

  it('diffs by line with context', () => {
    expect(lineDiff('a\nb\nc\nd\ne\nf\ng\nh\n', 'a\nb\nc\nd\nE\nf\ng\nh\n', 1)).toEqual([
      '  …',
      '  d',
      '- e',
      '+ E',
      '  f',
      '  …',
    ]);
  });
});
