/**
 * `egg ci init` and GitHub's two `sub` forms (issue 15), against GitHub's REST API mocked
 * with nock: it reads the repository's and its owner's ids (`GET /repos/{owner}/{repo}`) and
 * whether the repository uses immutable subjects (`GET …/actions/oidc/customization/sub`:
 * `sub_claim_prefix`, else `use_immutable_subject`), shows the exact `sub` the job will
 * present and the grant entry that matches it, and refuses a custom subject template.
 * Where GitHub does not say, it infers from the creation date and says so; the
 * `--immutable-subject` / `--name-only-subject` flags override.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import CiInit from '../../cli/commands/ci/init.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const API = 'https://api.github.com';
const TOKEN = 'ghp_canaryTOKEN0123456789abcdefghijklmnop';
const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
const VARIABLES = ['EGG_ROLE_ARN', 'EGG_NAMESPACE', 'EGG_TABLE', 'AWS_REGION', 'EGG_KMS_KEY_ID'];
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
const CUSTOMIZATION = '/repos/acme/web/actions/oidc/customization/sub';
const OPT_IN =
  '`gh api -X PUT repos/acme/web/actions/oidc/customization/sub -F use_default=true -F use_immutable_subject=true`';

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
  dir = mkdtempSync(join(tmpdir(), 'egg-ci-subjects-'));
  repo = join(dir, 'web');
  mkdirSync(repo);
  execFileSync('git', ['init', '-q', repo]);
  execFileSync('git', ['-C', repo, 'remote', 'add', 'origin', 'git@github.com:acme/web.git']);
  for (const name of [...VARIABLES, 'EGG_BACKEND', 'GITHUB_TOKEN', 'GITHUB_API_URL'])
    delete process.env[name];
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

function github(api = API) {
  return nock(api, { reqheaders: { authorization: `token ${TOKEN}` } });
}

/** The repository as GitHub describes it: acme (id 1001) / web (id 2002). */
function repository(createdAt = '2021-03-04T05:06:07Z', api = API, path = '/repos/acme/web') {
  github(api)
    .get(path)
    .reply(200, {
      id: 2002,
      name: 'web',
      full_name: 'acme/web',
      owner: { login: 'acme', id: 1001, type: 'Organization' },
      default_branch: 'main',
      created_at: createdAt,
    });
}

/** The variables already set to what the flags ask for. */
function variables(api = API, path = '/repos/acme/web') {
  const values = [ROLE, 'acme/web/prod', 'egg-prod', 'eu-west-1', 'alias/egg'];
  VARIABLES.forEach((name, i) =>
    github(api).get(`${path}/actions/variables/${name}`).reply(200, { name, value: values[i] }),
  );
}

async function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  process.chdir(repo);
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

/** The lines of the dry run between the repository and the workflow file. */
const subjectLines = (stdout: string) => stdout.split('\n').slice(1, stdout.split('\n').indexOf('', 1));

describe('egg ci init shows the exact sub and the grant that matches it', () => {
  it('an immutable repository: the immutable sub and a grant with ids only', async () => {
    repository();
    variables();
    github().get(CUSTOMIZATION).reply(200, {
      use_default: true,
      use_immutable_subject: true,
      sub_claim_prefix: 'repo:acme@1001/web@2002',
    });
    const result = await run(FLAGS);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(subjectLines(result.stdout)).toEqual([
      'OIDC subject of the job: repo:acme@1001/web@2002:ref:refs/heads/main',
      '  GitHub’s immutable form (the repository’s OIDC settings say so); owner id 1001, repository id 2002',
      'Grant for infra/grants.json that matches it:',
      '  {"namespace":"acme/web/prod","subjects":["repo:acme@1001/web@2002:ref:refs/heads/main"]}',
    ]);
    expect(result.stdout).toContain(
      '  + #   "token.actions.githubusercontent.com:sub": "repo:acme@1001/web@2002:ref:refs/heads/main"\n',
    );
  });

  it('a name-only repository: the name-only sub, and a grant that also holds after it opts in', async () => {
    repository();
    variables();
    github().get(CUSTOMIZATION).reply(200, {
      use_default: true,
      use_immutable_subject: false,
      sub_claim_prefix: 'repo:acme/web',
    });
    const result = await run([...FLAGS, '--environment', 'prod', '--json']);
    expect(result.stderr).toBe('');
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({
      subject: 'repo:acme/web:environment:prod',
      subjectForm: 'name-only',
      subjectSource: 'the repository’s OIDC settings say so',
      ids: { owner: '1001', repository: '2002' },
      grant: {
        namespace: 'acme/web/prod',
        subjects: ['repo:acme/web:environment:prod', 'repo:acme@1001/web@2002:environment:prod'],
        allowMutableSubject: true,
      },
    });
  });

  it('prints the opt-in for a name-only repository in the dry run', async () => {
    repository();
    variables();
    github().get(CUSTOMIZATION).reply(200, { use_default: true, use_immutable_subject: false });
    const result = await run(FLAGS);
    expect(subjectLines(result.stdout)).toEqual([
      'OIDC subject of the job: repo:acme/web:ref:refs/heads/main',
      '  the name-only form (the repository’s OIDC settings say so); owner id 1001, repository id 2002',
      'Grant for infra/grants.json that matches it, now and after the repository opts in to immutable subjects:',
      '  {"namespace":"acme/web/prod","subjects":["repo:acme/web:ref:refs/heads/main","repo:acme@1001/web@2002:ref:refs/heads/main"],"allowMutableSubject":true}',
      `  Whoever takes over the name acme or acme/web also presents the name-only sub: opt the repository in (${OPT_IN}), ` +
        'then drop the name-only pattern and allowMutableSubject (docs/deploy.md, "Immutable subjects").',
    ]);
  });

  it('believes sub_claim_prefix over use_immutable_subject, as GitHub builds the sub from it', async () => {
    repository();
    variables();
    github().get(CUSTOMIZATION).reply(200, {
      use_default: true,
      use_immutable_subject: false,
      sub_claim_prefix: 'repo:acme@1001/web@2002',
    });
    const json = JSON.parse((await run([...FLAGS, '--json'])).stdout);
    expect(json.subject).toBe('repo:acme@1001/web@2002:ref:refs/heads/main');
  });

  it('refuses a sub_claim_prefix whose ids are not the repository’s', async () => {
    repository();
    variables();
    github()
      .get(CUSTOMIZATION)
      .reply(200, { use_default: true, sub_claim_prefix: 'repo:acme@1001/web@9999' });
    const result = await run(FLAGS);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'Error: GitHub’s OIDC settings for acme/web give the subject prefix "repo:acme@1001/web@9999", ' +
        'but the repository is acme@1001/web@2002 (pass --immutable-subject or --name-only-subject once you know which form its jobs present; `egg doctor` in a job prints the sub).\n',
    );
  });

  it('refuses a repository with a custom subject template, which no grant accepts', async () => {
    repository();
    variables();
    github()
      .get(CUSTOMIZATION)
      .reply(200, { use_default: false, include_claim_keys: ['repo', 'context', 'job_workflow_ref'] });
    const result = await run(FLAGS);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'Error: acme/web uses a custom OIDC subject template (include_claim_keys: repo, context, job_workflow_ref), ' +
        'so its jobs present neither of GitHub’s default subjects, the only ones Egg Carton grants accept ' +
        '(reset it with `gh api -X PUT repos/acme/web/actions/oidc/customization/sub -F use_default=true` (docs/deploy.md, "Immutable subjects"), ' +
        'or write the role’s trust policy by hand and pass --immutable-subject or --name-only-subject).\n',
    );
  });

  it('infers the immutable form from a creation date since 2026-07-15 when the settings cannot be read, and says so', async () => {
    repository('2026-08-01T00:00:00Z');
    variables();
    github().get(CUSTOMIZATION).reply(403, { message: 'Resource not accessible by personal access token' });
    const result = await run(FLAGS);
    expect(result.code).toBe(0);
    expect(subjectLines(result.stdout).slice(0, 2)).toEqual([
      'OIDC subject of the job: repo:acme@1001/web@2002:ref:refs/heads/main',
      '  GitHub’s immutable form (assumed: created 2026-08-01, on or after 2026-07-15, and GitHub refused to show its OIDC settings (403); ' +
        'pass --immutable-subject or --name-only-subject if that is wrong); owner id 1001, repository id 2002',
    ]);
  });

  it('infers the name-only form for an older repository when GitHub does not say, and keeps the grant good for both', async () => {
    repository('2019-01-01T00:00:00Z');
    variables();
    github().get(CUSTOMIZATION).reply(200, { use_default: true });
    const json = JSON.parse((await run([...FLAGS, '--json'])).stdout);
    expect(json).toMatchObject({
      subject: 'repo:acme/web:ref:refs/heads/main',
      subjectForm: 'name-only',
      subjectSource:
        'assumed: created 2019-01-01, before 2026-07-15, and GitHub did not say; it is immutable if it was renamed or transferred since, or opted in; pass --immutable-subject or --name-only-subject if that is wrong',
      grant: {
        subjects: ['repo:acme/web:ref:refs/heads/main', 'repo:acme@1001/web@2002:ref:refs/heads/main'],
        allowMutableSubject: true,
      },
    });
  });

  it.each([
    ['--immutable-subject', 'repo:acme@1001/web@2002:ref:refs/heads/main'],
    ['--name-only-subject', 'repo:acme/web:ref:refs/heads/main'],
  ])('%s overrides, without asking GitHub for the settings', async (flag, subject) => {
    repository();
    variables();
    const json = JSON.parse((await run([...FLAGS, flag, '--json'])).stdout);
    expect(json).toMatchObject({ subject, subjectSource: `${flag} says so` });
  });

  it('refuses both overrides at once, before asking GitHub anything', async () => {
    // In-process, oclif throws its usage error (the bin prints it and exits 2).
    await expect(run([...FLAGS, '--immutable-subject', '--name-only-subject'])).rejects.toThrow(
      /--name-only-subject=true cannot also be provided when using --immutable-subject/,
    );
  });

  it('on GitHub Enterprise Server, which has no immutable subjects, uses the name-only form', async () => {
    process.env.GITHUB_API_URL = 'https://ghe.example.com/api/v3';
    const ghe = 'https://ghe.example.com';
    repository('2026-08-01T00:00:00Z', ghe, '/api/v3/repos/acme/web');
    variables(ghe, '/api/v3/repos/acme/web');
    github(ghe).get(`/api/v3${CUSTOMIZATION}`).reply(200, { use_default: true });
    const json = JSON.parse((await run([...FLAGS, '--json'])).stdout);
    expect(json).toMatchObject({
      subject: 'repo:acme/web:ref:refs/heads/main',
      subjectSource: 'GitHub Enterprise Server has no immutable subjects',
      grant: { subjects: ['repo:acme/web:ref:refs/heads/main'], allowMutableSubject: true },
    });
  });

  it('writes the exact sub into the workflow file it applies', async () => {
    repository();
    variables();
    github()
      .get(CUSTOMIZATION)
      .reply(200, { use_default: true, sub_claim_prefix: 'repo:acme@1001/web@2002' });
    const result = await run([...FLAGS, '--apply']);
    expect(result.code).toBe(0);
    expect(readFileSync(join(repo, '.github/workflows/egg.yml'), 'utf8')).toContain(
      '#   "token.actions.githubusercontent.com:sub": "repo:acme@1001/web@2002:ref:refs/heads/main"\n',
    );
    expect(result.stdout.split('\n').at(-2)).toBe(
      'Next: commit .github/workflows/egg.yml, and make sure the role\'s trust policy allows "token.actions.githubusercontent.com:sub" = "repo:acme@1001/web@2002:ref:refs/heads/main" (the grant above; a step running `egg doctor --role-arn …` in the job checks it).',
    );
  });
});
