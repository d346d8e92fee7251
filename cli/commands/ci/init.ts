import { Flags } from '@oclif/core';
import type { CiInitPlan } from '../../../src/github/ci-init.js';
import { EggCommand } from '../../base.js';

export default class CiInit extends EggCommand {
  static override summary = 'Write the GitHub Actions workflow and set the repository variables it reads.';
  static override description =
    'Writes .github/workflows/egg.yml into the current git repository (a job with `permissions: id-token: write` that pulls the namespace’s secrets with eggcarton/action@v1) and sets the repository variables EGG_ROLE_ARN, EGG_NAMESPACE, EGG_TABLE, AWS_REGION and EGG_KMS_KEY_ID through the GitHub API, with the token in GH_TOKEN or GITHUB_TOKEN. It shows the exact OIDC `sub` the job will present, in the form the repository uses (GitHub’s immutable `repo:OWNER@ID/REPO@ID:…`, or the name-only `repo:OWNER/REPO:…`, as its OIDC settings say, else assumed from its creation date), and the infra/grants.json entry that matches it. By default it only shows what it would change, and needs no token for a public repository; --apply changes it. The repository is --repo, or the one `git remote get-url origin` names.';
  static override examples = [
    'GH_TOKEN=$(gh auth token) <%= config.bin %> ci init --role-arn arn:aws:iam::123456789012:role/egg-ci --table egg --region eu-west-1 --kms-key-id alias/egg -n acme/web/prod',
    '<%= config.bin %> ci init --environment prod --apply',
    '<%= config.bin %> ci init --repo acme/web --json',
    '<%= config.bin %> ci init --immutable-subject   # the repository’s jobs present repo:OWNER@ID/REPO@ID:…',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    repo: Flags.string({
      summary: 'GitHub repository as OWNER/NAME. Default: from `git remote get-url origin`.',
    }),
    'role-arn': Flags.string({ summary: 'IAM role the job assumes. Default: EGG_ROLE_ARN.' }),
    table: Flags.string({ summary: 'DynamoDB table. Default: EGG_TABLE.' }),
    region: Flags.string({ summary: 'AWS region. Default: AWS_REGION.' }),
    'kms-key-id': Flags.string({ summary: 'KMS key id, ARN or alias. Default: EGG_KMS_KEY_ID.' }),
    environment: Flags.string({
      summary: 'Run the job in this deployment environment (its OIDC subject then names the environment).',
    }),
    branch: Flags.string({
      summary: 'Branch whose pushes run the workflow. Default: the repository’s default branch.',
    }),
    apply: Flags.boolean({ summary: 'Make the changes (without it, only show them).', default: false }),
    force: Flags.boolean({ summary: 'Replace an existing workflow file that differs.', default: false }),
    'immutable-subject': Flags.boolean({
      summary:
        'The repository’s jobs present GitHub’s immutable sub (repo:OWNER@ID/REPO@ID:…). Default: as its OIDC settings say.',
      exclusive: ['name-only-subject'],
    }),
    'name-only-subject': Flags.boolean({
      summary:
        'The repository’s jobs present the name-only sub (repo:OWNER/REPO:…). Default: as its OIDC settings say.',
      exclusive: ['immutable-subject'],
    }),
  };

  async run() {
    const { applyCiInit, planCiInit } = await import('../../../src/github/ci-init.js');
    const { flags } = await this.parse(CiInit);
    const config = this.eggConfig({
      namespace: flags.namespace,
      backend: flags.backend,
      table: flags.table,
      region: flags.region,
      kmsKeyId: flags['kms-key-id'],
    });
    const { plan, client } = await planCiInit({
      cwd: process.cwd(),
      env: process.env,
      repo: flags.repo,
      values: {
        EGG_ROLE_ARN: flags['role-arn'] ?? process.env.EGG_ROLE_ARN,
        EGG_NAMESPACE: config.namespace,
        EGG_TABLE: config.table,
        AWS_REGION: config.region,
        EGG_KMS_KEY_ID: config.kmsKeyId,
      },
      environment: flags.environment,
      branch: flags.branch,
      force: flags.force,
      apply: flags.apply,
      subjectForm: flags['immutable-subject']
        ? 'immutable'
        : flags['name-only-subject']
          ? 'name-only'
          : undefined,
      userAgent: `${this.config.name}/${this.config.version}`,
    });
    for (const line of describePlan(plan)) this.log(line);
    if (flags.apply) {
      await applyCiInit(plan, client);
      for (const line of ['', ...applied(plan)]) this.log(line);
    } else {
      this.log('');
      const unread = plan.variables.some((v) => v.action === 'set');
      if (unread)
        this.log(
          'Without a GitHub token the variables’ current values and the OIDC settings were not read; --apply needs one (GH_TOKEN or GITHUB_TOKEN).',
        );
      this.log(
        `Dry run: nothing was changed. Run again with --apply${unread ? ' and a token' : ''} to make these changes.`,
      );
    }
    return {
      repository: plan.repository,
      repositorySource: plan.repositorySource,
      applied: flags.apply,
      subject: plan.subject,
      subjectForm: plan.subjectForm,
      subjectSource: plan.subjectSource,
      ids: plan.ids,
      grant: plan.grant,
      workflow: { path: plan.workflow.path, action: plan.workflow.action, diff: plan.workflow.diff },
      variables: plan.variables,
    };
  }
}

const VERBS = {
  create: 'create',
  update: 'update',
  unchanged: 'unchanged',
  keep: 'keep',
  set: 'set',
} as const;

function describePlan(plan: CiInitPlan): string[] {
  const lines = [
    `Repository: ${plan.repository} (from ${plan.repositorySource})`,
    ...describeSubject(plan),
    '',
  ];
  const { workflow } = plan;
  const note =
    workflow.action === 'keep'
      ? ' (the file exists and differs; --force replaces it with the lines below)'
      : '';
  lines.push(`${workflow.path}: ${VERBS[workflow.action]}${note}`);
  for (const line of workflow.diff) lines.push(`  ${line}`);
  lines.push('', `Repository variables of ${plan.repository}:`);
  const width = Math.max(...plan.variables.map((v) => v.name.length));
  for (const v of plan.variables) {
    const was = v.action === 'update' ? ` (now ${JSON.stringify(v.current)})` : '';
    lines.push(`  ${v.action.padEnd(9)}  ${v.name.padEnd(width)} = ${v.value}${was}`);
  }
  return lines;
}

/** The job's exact sub, how its form is known, and the grant entry that matches it. */
function describeSubject(plan: CiInitPlan): string[] {
  const form = plan.subjectForm === 'immutable' ? 'GitHub’s immutable form' : 'the name-only form';
  const lines = [
    `OIDC subject of the job: ${plan.subject}`,
    `  ${form} (${plan.subjectSource}); owner id ${plan.ids.owner}, repository id ${plan.ids.repository}`,
  ];
  const both = plan.grant.subjects.length > 1;
  lines.push(
    both
      ? 'Grant for infra/grants.json that matches it, now and after the repository opts in to immutable subjects:'
      : 'Grant for infra/grants.json that matches it:',
    `  ${JSON.stringify(plan.grant)}`,
  );
  if (both) {
    const [owner, repo] = plan.repository.split('/') as [string, string];
    lines.push(
      `  Whoever takes over the name ${owner} or ${owner}/${repo} also presents the name-only sub: opt the repository in ` +
        `(\`gh api -X PUT repos/${owner}/${repo}/actions/oidc/customization/sub -F use_default=true -F use_immutable_subject=true\`), ` +
        'then drop the name-only pattern and allowMutableSubject (docs/deploy.md, "Immutable subjects").',
    );
  }
  return lines;
}

function applied(plan: CiInitPlan): string[] {
  const count = (action: string) => plan.variables.filter((v) => v.action === action).length;
  const file =
    plan.workflow.action === 'create' || plan.workflow.action === 'update'
      ? `Wrote ${plan.workflow.path}.`
      : plan.workflow.action === 'keep'
        ? `Kept the existing ${plan.workflow.path} (it differs; --force replaces it).`
        : `${plan.workflow.path} was already up to date.`;
  return [
    `${file} Variables: ${count('create')} created, ${count('update')} updated, ${count('unchanged')} unchanged.`,
    `Next: commit ${plan.workflow.path}, and make sure the role's trust policy allows "token.actions.githubusercontent.com:sub" = "${plan.subject}" (the grant above; a step running \`egg doctor --role-arn …\` in the job checks it).`,
  ];
}
